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


def test_three_sub_datasets_with_train_to_train_and_test_to_val(tgif):
    parts, conv = tgif
    assert list(parts) == ["action", "transition", "frameqa"]
    assert {p.task for p in parts.values()} == {"tgif_qa_action", "tgif_qa_transition", "tgif_qa_frameqa"}
    assert {s: len(r) for s, r in parts["action"].splits.items()} == {"train": 20471, "val": 2274}
    assert {s: len(r) for s, r in parts["transition"].splits.items()} == {"val": 6232}
    assert {s: len(r) for s, r in parts["frameqa"].splits.items()} == {"val": 13691}
    # the missing Train files are reported, not fatal
    assert any("Train_frameqa_question.csv" in n for n in conv.notes)


def test_first_action_record_is_the_clipbert_docstring_example(tgif):
    parts, _ = tgif
    assert parts["action"].splits["val"][0] == {
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
    options = [o for rec in parts["transition"].splits["val"] for o in rec["options"]]
    assert 'respond "no"' in options
    assert 'write "i love you"' in options
    assert not any(o.startswith('"') or '""' in o for o in options)
    val = parts["transition"].splits["val"]
    assert all(len(rec["options"]) == 5 and 0 <= rec["answer"] <= 4 for rec in val)


def test_frameqa_type_mapping_and_first_record(tgif):
    parts, _ = tgif
    val = parts["frameqa"].splits["val"]
    assert val[0] == {"gif_name": "tumblr_no73q2fm0I1uuf348o1_250",
                      "question": "what is being placed in the white ice cream cone ?",
                      "answer": "cookie", "answer_type": "object"}
    counts: dict[str, int] = {}
    for rec in val:
        counts[rec["answer_type"]] = counts.get(rec["answer_type"], 0) + 1
    assert counts == {"object": 5586, "number": 3148, "color": 3904, "location": 1053}


def test_frameqa_ans2label_covers_every_answer_most_frequent_first(tgif):
    parts, _ = tgif
    a2l = parts["frameqa"].ans2label
    answers = {rec["answer"] for rec in parts["frameqa"].splits["val"]}
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
