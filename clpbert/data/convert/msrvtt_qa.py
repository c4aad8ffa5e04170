"""MSRVTT-QA `{train,val,test}_qa.json` (a folder, or one of the files) -> dataset for task msrvtt_qa.

Each file is a JSON list of {"question", "answer", "video_id": int, "id", ...}. MSVD-QA ships the
same layout, so it converts the same way (its ids are MSVD's, not MSRVTT's).

Decisions:
* split = file name: train_qa.json -> train, val_qa.json -> val, test_qa.json -> test.
* video_id int N -> "videoN" (the file stem of videoN.mp4, the LMDB key); "videoN" strings are kept.
* answer_type = first word of the question if it is what/who/how/where/when, else "other"
  (ClipBERT reports per-type accuracy over those five words).
* ans2label = the `num_answers` (1500) most frequent train answers, ties alphabetical. Without a
  train file it is built from the splits given, and a note says so.
* Only the spec's fields are written; ClipBERT re-numbers question ids itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from clpbert.data.convert.base import Conversion, Part, Record, int_option, pick_files, read_json, top_answers
from clpbert.errors import UserError

FILES = {"train_qa.json": "train", "val_qa.json": "val", "test_qa.json": "test"}
QUESTION_WORDS = ("what", "who", "how", "where", "when")
_FIRST_WORD = re.compile(r"[a-z]+")


def answer_type(question: str) -> str:
    m = _FIRST_WORD.search(question.lower())
    word = m.group(0) if m else ""
    return word if word in QUESTION_WORDS else "other"


def video_key(value: Any, where: str) -> str:
    """The LMDB key of an MSRVTT-QA video id: 123 / "123" -> "video123"; "video123" stays."""
    if isinstance(value, bool):
        raise UserError(f"{where}: video_id {value!r} is not a video number")
    if isinstance(value, int):
        return f"video{value}"
    text = str(value).strip()
    if text.isdigit():
        return f"video{int(text)}"
    if re.fullmatch(r"video\d+", text):
        return text
    raise UserError(f"{where}: video_id {value!r} is neither a number nor 'videoN'")


def _records(path: Path) -> list[Record]:
    data = read_json(path)
    if not isinstance(data, list):
        raise UserError(f"{path}: expected a JSON list of questions, got {type(data).__name__}")
    out = []
    for i, item in enumerate(data):
        where = f"{path} item {i}"
        if not isinstance(item, dict) or not {"question", "answer", "video_id"} <= item.keys():
            raise UserError(f"{where}: expected an object with question, answer and video_id")
        question = str(item["question"]).strip()
        out.append({"question": question, "answer": str(item["answer"]).strip(),
                    "video_id": video_key(item["video_id"], where), "answer_type": answer_type(question)})
    return out


def convert(path: Path, options: Mapping[str, str]) -> Conversion:
    num_answers = int_option(options, "num_answers", 1500)
    files = pick_files(path, FILES, "MSRVTT-QA")
    splits = {split: _records(file) for split, file in files}
    notes = []
    if "train" in splits:
        vocab_from = ["train"]
    else:
        vocab_from = sorted(splits)
        notes.append(f"no train_qa.json: ans2label built from {', '.join(vocab_from)} answers instead")
    ans2label = top_answers((r["answer"] for s in vocab_from for r in splits[s]), num_answers)
    meta = {"ans2label": f"{len(ans2label)} most frequent answers of {'+'.join(vocab_from)}",
            "answer_type": "first word of the question in what/who/how/where/when, else other"}
    part = Part(suffix="", task="msrvtt_qa", key_field="video_id", splits=splits, ans2label=ans2label,
                meta=meta)
    return Conversion(format="msrvtt_qa", parts=[part], notes=notes, sources=[str(f) for _, f in files])
