"""txt_db: atomic jsonl splits, ans2label, meta, and one clear error for a missing dir/split."""

from __future__ import annotations

import json

import pytest

from clpbert.data.txt_db import TxtDB, TxtDBWriter
from clpbert.errors import UserError

QA = [{"question": "what are three people sitting on?", "answer": "couch", "video_id": "video6513",
       "answer_type": "what"},
      {"question": "who runs?", "answer": "man", "video_id": "video7", "answer_type": "who"}]


def test_round_trip_with_meta_counts(tmp_path):
    w = TxtDBWriter(tmp_path / "txt_db")
    assert w.write_split("train", QA) == 2
    w.write_split("val", QA[:1])
    w.write_ans2label({"couch": 0, "man": 1})
    meta = w.write_meta({"format": "msrvtt_qa", "task": "msrvtt_qa"})
    assert meta["splits"] == {"train": 2, "val": 1}
    db = TxtDB(tmp_path / "txt_db")
    assert db.splits() == ["train", "val"] and db.read("train") == QA
    assert db.ans2label() == {"couch": 0, "man": 1} and db.meta()["format"] == "msrvtt_qa"
    assert not [p for p in (tmp_path / "txt_db").iterdir() if p.name.startswith(".")]  # no temp files left


def test_rewrite_replaces_whole_file(tmp_path):
    w = TxtDBWriter(tmp_path)
    w.write_split("train", QA)
    w.write_split("train", QA[1:])
    assert TxtDB(tmp_path).read("train") == QA[1:]


def test_missing_dir_and_split_are_single_user_errors(tmp_path):
    with pytest.raises(UserError, match=r"does not exist.*datasets prepare"):
        TxtDB(tmp_path / "nope")
    TxtDBWriter(tmp_path / "db").write_split("train", QA)
    with pytest.raises(UserError, match=r"'val' not found.*splits here: train"):
        TxtDB(tmp_path / "db").read("val")


def test_bad_line_names_file_and_line(tmp_path):
    (tmp_path / "train.jsonl").write_text(json.dumps(QA[0]) + "\n{oops\n")
    with pytest.raises(UserError, match=r"train.jsonl:2"):
        TxtDB(tmp_path).read("train")


def test_ans2label_must_be_dense(tmp_path):
    with pytest.raises(ValueError):
        TxtDBWriter(tmp_path).write_ans2label({"a": 0, "b": 2})
