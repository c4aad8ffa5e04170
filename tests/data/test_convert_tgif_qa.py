"""TGIF-QA converter on the real TAB-separated CRLF files (clpbert/data/convert/tgif_qa.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from clpbert.data.convert.base import convert
from clpbert.errors import UserError

pytestmark = pytest.mark.real


@pytest.fixture(scope="module")
def tgif(real_data: Path):
    conv = convert("tgif_qa", real_data / "tgif_qa")
    return {p.suffix: p for p in conv.parts}, conv


def test_three_sub_datasets_with_test_to_test_and_val_held_out_of_train(tgif):
    parts, conv = tgif
    assert list(parts) == ["action", "transition", "frameqa"]
    assert {p.task for p in parts.values()} == {"tgif_qa_action", "tgif_qa_transition", "tgif_qa_frameqa"}
    # 20,471 Train questions (one per GIF): 10% of the GIFs held out as val
    assert {s: len(r) for s, r in parts["action"].splits.items()} == {"train": 18424, "val": 2047,
                                                                       "test": 2274}
    assert {s: len(r) for s, r in parts["transition"].splits.items()} == {"test": 6232}
    assert {s: len(r) for s, r in parts["frameqa"].splits.items()} == {"test": 13691}
    # the missing Train files are reported, not fatal
    assert "frameqa: no Train_frameqa_question.csv, so no train or val split" in conv.notes


def test_val_is_a_seeded_tenth_of_the_train_gifs_disjoint_from_train_and_test(tgif, real_data: Path,
                                                                             tmp_path: Path):
    parts, conv = tgif
    action = parts["action"].splits
    gifs = {s: {r["gif_name"] for r in recs} for s, recs in action.items()}
    assert len(gifs["val"]) == 2047 == round(0.1 * 20471)
    assert not gifs["val"] & gifs["train"] and not gifs["val"] & gifs["test"]
    assert not gifs["train"] & gifs["test"]
    # train + val is the Train file, nothing lost or doubled
    train_file = convert("tgif_qa", real_data / "tgif_qa" / "Train_action_question.csv").parts[0].splits
    assert sorted(map(repr, action["train"] + action["val"])) == \
        sorted(map(repr, train_file["train"] + train_file["val"]))
    # the same GIFs are held out whatever the row order (the choice depends on the GIF id alone)
    lines = (real_data / "tgif_qa" / "Train_action_question.csv").read_bytes().split(b"\r\n")
    header, rows = lines[0], [line for line in lines[1:] if line]
    (tmp_path / "Train_action_question.csv").write_bytes(b"\r\n".join([header, *rows[::-1]]) + b"\r\n")
    reordered = convert("tgif_qa", tmp_path).parts[0].splits
    assert {r["gif_name"] for r in reordered["val"]} == gifs["val"]
    assert ("action: val: 10% of Train_action videos held out (2,047 videos, seeded by video id); test = "
            "Test_action_question.csv (the official test), evaluated once on the checkpoint chosen on val"
            ) in conv.notes


def test_first_action_record_is_the_clipbert_docstring_example(tgif):
    parts, _ = tgif
    assert parts["action"].splits["test"][0] == {
        "gif_name": "tumblr_nk172bbdPI1u1lr18o1_250",
        "question": "What does the butterfly do 10 or more than 10 times ?",
        "options": ["stuff marshmallow", "holds a phone towards face", "fall over", "talk", "flap wings"],
        "answer": 4,
    }


def test_crlf_leaves_no_carriage_returns(tgif):
    parts, _ = tgif
    for part in parts.values():
        for records in part.splits.values():
            for rec in records:
                assert "\r" not in repr(rec)


def test_doubled_quotes_are_parsed_without_quote_characters(tgif):
    parts, _ = tgif
    options = [o for rec in parts["transition"].splits["test"] for o in rec["options"]]
    assert 'respond "no"' in options
    assert 'write "i love you"' in options
    assert not any(o.startswith('"') or '""' in o for o in options)
    test = parts["transition"].splits["test"]
    assert all(len(rec["options"]) == 5 and 0 <= rec["answer"] <= 4 for rec in test)


def test_frameqa_type_mapping_and_first_record(tgif):
    parts, _ = tgif
    test = parts["frameqa"].splits["test"]
    assert test[0] == {"gif_name": "tumblr_no73q2fm0I1uuf348o1_250",
                      "question": "what is being placed in the white ice cream cone ?",
                      "answer": "cookie", "answer_type": "object"}
    counts: dict[str, int] = {}
    for rec in test:
        counts[rec["answer_type"]] = counts.get(rec["answer_type"], 0) + 1
    assert counts == {"object": 5586, "number": 3148, "color": 3904, "location": 1053}


def test_frameqa_ans2label_covers_every_answer_most_frequent_first(tgif):
    parts, _ = tgif
    a2l = parts["frameqa"].ans2label
    answers = {rec["answer"] for rec in parts["frameqa"].splits["test"]}
    assert set(a2l) == answers
    assert a2l["two"] == 0  # the most frequent Test_frameqa answer (2,395 times)
    assert sorted(a2l.values()) == list(range(len(a2l)))
    assert parts["action"].ans2label is None


def test_single_file_and_wrong_folder(real_data: Path, tmp_path: Path):
    conv = convert("tgif_qa", real_data / "tgif_qa" / "Test_action_question.csv")
    assert [p.suffix for p in conv.parts] == ["action"]
    with pytest.raises(UserError, match="no TGIF-QA question files"):
        convert("tgif_qa", tmp_path)


def test_bad_answer_index_names_the_line(tmp_path: Path):
    f = tmp_path / "Test_action_question.csv"
    f.write_text("gif_name\tquestion\ta1\ta2\ta3\ta4\ta5\tanswer\tvid_id\tkey\r\n"
                 "g1\tq ?\ta\tb\tc\td\te\t7\tACTION1\t1\r\n")
    with pytest.raises(UserError, match=r"Test_action_question.csv:2: answer '7'"):
        convert("tgif_qa", tmp_path)


def test_a_small_train_file_still_gets_a_val_video_and_a_single_one_none(tmp_path: Path):
    header = "gif_name\tquestion\ta1\ta2\ta3\ta4\ta5\tanswer\tvid_id\tkey\r\n"
    rows = [f"g{i}\tq ?\ta\tb\tc\td\te\t1\tACTION{i}\t{i}\r\n" for i in range(3)]
    (tmp_path / "Train_action_question.csv").write_text(header + "".join(rows))
    conv = convert("tgif_qa", tmp_path)
    splits = conv.parts[0].splits
    assert [len(splits["train"]), len(splits["val"])] == [2, 1] and "test" not in splits
    assert conv.notes == ["action: val: 10% of Train_action videos held out (1 video, seeded by video id); "
                          "no test split"]
    (tmp_path / "Train_action_question.csv").write_text(header + rows[0])
    conv = convert("tgif_qa", tmp_path)
    assert list(conv.parts[0].splits) == ["train"]
    assert conv.notes == ["action: no val split: Train_action has too few videos to hold one out; no test "
                          "split"]
