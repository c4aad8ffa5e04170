"""MSRVTT-QA converter, fed the real MSVD-QA proxy file (clpbert/data/convert/msrvtt_qa.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clpbert.data.convert.base import convert
from clpbert.data.convert.msrvtt_qa import answer_type
from clpbert.errors import UserError


@pytest.mark.real
def test_msvd_proxy_converts_with_video_keys_and_answer_types(real_data: Path):
    conv = convert("msrvtt_qa", real_data / "msrvtt_qa" / "format_proxy_msvd_qa")
    (part,) = conv.parts
    assert part.task == "msrvtt_qa" and part.key_field == "video_id"
    val = part.splits["val"]
    assert list(part.splits) == ["val"] and len(val) == 6415
    assert val[0] == {
        "question": "who pours liquid from a plastic container into a ziploc bag containing meat pieces?",
        "answer": "someone", "video_id": "video1201", "answer_type": "who"}
    assert all(r["video_id"].startswith("video") and r["video_id"][5:].isdigit() for r in val)
    assert {r["answer_type"] for r in val} <= {"what", "who", "how", "where", "when", "other"}
    # no train file: the vocabulary comes from val, and the user is told
    assert any("no train_qa.json" in n for n in conv.notes)
    assert len(part.ans2label) == len({r["answer"] for r in val}) < 1500


def test_train_vocabulary_is_the_most_frequent_train_answers(tmp_path: Path):
    train = [{"question": f"what is {i}?", "answer": a, "video_id": i, "id": i}
             for i, a in enumerate(["cat"] * 3 + ["dog"] * 2 + ["man"])]
    (tmp_path / "train_qa.json").write_text(json.dumps(train))
    test = [{"question": "who?", "answer": "zebra", "video_id": 7010, "id": 1}]
    (tmp_path / "test_qa.json").write_text(json.dumps(test))
    conv = convert("msrvtt_qa", tmp_path, {"num_answers": "2"})
    (part,) = conv.parts
    assert part.ans2label == {"cat": 0, "dog": 1}
    assert set(part.splits) == {"train", "test"}
    assert part.splits["test"][0]["video_id"] == "video7010"
    assert conv.notes == []


def test_answer_type_is_the_question_word():
    assert answer_type("what are three people sitting on?") == "what"
    assert answer_type("Who's there?") == "who"
    assert answer_type("is it red?") == "other"


def test_single_file_with_unknown_name_is_refused(tmp_path: Path):
    f = tmp_path / "questions.json"
    f.write_text("[]")
    with pytest.raises(UserError, match=r"cannot tell the split of questions\.json"):
        convert("msrvtt_qa", f)


def test_unknown_option_is_refused(real_data: Path):
    with pytest.raises(UserError, match="has no option 'nope'"):
        convert("msrvtt_qa", real_data / "msrvtt_qa" / "format_proxy_msvd_qa", {"nope": "1"})
