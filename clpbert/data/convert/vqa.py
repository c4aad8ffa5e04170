"""VQA v2 (official questions + annotations JSON) and Visual Genome QA -> dataset for task vqa.

Inputs (a folder holding them, or one questions file):
* `v2_OpenEnded_mscoco_{train2014,val2014,test2015,test-dev2015}_questions.json`:
  {"data_subtype", "questions": [{"image_id", "question", "question_id"}], ...}
* `v2_mscoco_{train2014,val2014}_annotations.json`: {"annotations": [{"question_id", "image_id",
  "answers": [{"answer", "answer_confidence", "answer_id"} x 10], "multiple_choice_answer",
  "answer_type", "question_type"}], ...}
* optional Visual Genome `question_answers.json`: [{"id": image_id, "qas": [{"qa_id", "image_id",
  "question", "answer", ...}]}] (training augmentation, as the original's vg_k_trainval).

Decisions (the original's VQA data, as UNITER/bottom-up-attention built it):
* Answers are normalised as the official VQA evaluation does (lower case, punctuation, number words
  to digits, articles dropped, common contractions).
* Soft score per answer from how many of the 10 annotators gave it: 0 -> 0, 1 -> 0.3, 2 -> 0.6,
  3 -> 0.9, 4+ -> 1.0. The vocabulary (ans2label) = normalised `multiple_choice_answer`s of train+val
  seen at least `--opt min_count` times (9), most frequent first, at most `--opt num_answers` (3129).
* Records: {"question", "image_id" (vis_db key), "question_id", "labels": {answer: score} for
  in-vocabulary answers, "answer" (the normalised multiple_choice_answer), "answer_type"}.
  Questions with no in-vocabulary answer are kept with empty labels (zero targets), as the original.
* Splits: train2014 -> train, val2014 -> val (model selection), test2015 / test-dev2015 -> test
  (questions only). VG-QA records (answer_type "vg", labels {answer: 1.0} when in the vocabulary)
  are appended to train: augmentation only, never evaluated.
* Keys: COCO image file stems `COCO_<subtype>_%012d` (`--opt key=id12` for "%012d"); VG images by
  id (`1.jpg` -> "1").
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from clpbert.data.convert.base import (
    Conversion,
    Part,
    Record,
    choice_option,
    int_option,
    normalize_ws,
    read_json,
)
from clpbert.errors import UserError

_QUESTIONS_RE = re.compile(r"^v2_OpenEnded_mscoco_(train2014|val2014|test2015|test-dev2015)_questions\.json$",
                           re.IGNORECASE)
_ANNOTATIONS_RE = re.compile(r"^v2_mscoco_(train2014|val2014)_annotations\.json$", re.IGNORECASE)
VG_NAME = "question_answers.json"
SPLIT_OF = {"train2014": "train", "val2014": "val", "test2015": "test", "test-dev2015": "test"}
NUM_ANSWERS = 3129
MIN_COUNT = 9

# -- the official VQA answer normalisation (the evaluation script's rules, restated) ------------

_CONTRACTIONS = {"dont": "don't", "doesnt": "doesn't", "isnt": "isn't", "arent": "aren't", "cant": "can't",
                 "wont": "won't", "didnt": "didn't", "wasnt": "wasn't", "werent": "weren't", "im": "i'm",
                 "ive": "i've", "youre": "you're", "theyre": "they're", "thats": "that's", "whats": "what's",
                 "hes": "he's", "shes": "she's", "its": "it's", "lets": "let's", "couldnt": "couldn't",
                 "shouldnt": "shouldn't", "wouldnt": "wouldn't", "hasnt": "hasn't", "havent": "haven't"}
_NUMBERS = {"none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
            "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10"}
_ARTICLES = {"a", "an", "the"}
_PUNCT = [";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",",
          "?", "!"]
_PERIOD_STRIP = re.compile(r"(?!<=\d)(\.)(?!\d)")
_COMMA_STRIP = re.compile(r"(\d)(,)(\d)")


def normalize_answer(answer: str) -> str:
    """An answer as the VQA evaluation compares it: "Two dogs." -> "2 dogs"."""
    text = normalize_ws(str(answer).replace("\n", " ").replace("\t", " ")).lower()
    for p in _PUNCT:
        if (p + " " in text or " " + p in text) or _COMMA_STRIP.search(text) is not None:
            text = text.replace(p, "")
        else:
            text = text.replace(p, " ")
    text = _PERIOD_STRIP.sub("", text)
    words = []
    for word in text.split():
        word = _NUMBERS.get(word, word)
        if word in _ARTICLES:
            continue
        words.append(_CONTRACTIONS.get(word, word))
    return " ".join(words)


def soft_score(occurrences: int) -> float:
    """The original's score for an answer given by `occurrences` of the 10 annotators."""
    return min(1.0, 0.3 * occurrences) if occurrences < 4 else 1.0


# -- inputs -------------------------------------------------------------------------------------


def _inputs(path: Path) -> tuple[dict[str, Path], dict[str, Path], Path | None]:
    files = sorted(path.iterdir()) if path.is_dir() else [path]
    questions: dict[str, Path] = {}
    annotations: dict[str, Path] = {}
    vg = None
    for p in files:
        if (m := _QUESTIONS_RE.match(p.name)) and p.is_file():
            questions[m.group(1).lower()] = p
        elif (m := _ANNOTATIONS_RE.match(p.name)) and p.is_file():
            annotations[m.group(1).lower()] = p
        elif p.name.lower() == VG_NAME and p.is_file():
            vg = p
    if not questions:
        raise UserError(f"no VQA v2 questions file in {path}; expected v2_OpenEnded_mscoco_<subtype>_"
                        "questions.json (+ v2_mscoco_<subtype>_annotations.json)")
    return questions, annotations, vg


def _list(data: Any, key: str, path: Path) -> list[dict[str, Any]]:
    items = data.get(key) if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise UserError(f"{path}: expected an object with a {key!r} list (the official VQA v2 schema)")
    return items


def _image_key(image_id: int, subtype: str, key: str) -> str:
    return f"{image_id:012d}" if key == "id12" else f"COCO_{subtype.replace('-dev', '')}_{image_id:012d}"


def _annotations(path: Path) -> dict[int, dict[str, Any]]:
    out = {}
    for i, ann in enumerate(_list(read_json(path), "annotations", path)):
        if not isinstance(ann, dict) or "question_id" not in ann or not isinstance(ann.get("answers"), list):
            raise UserError(f"{path} annotation {i}: expected question_id and an answers list")
        out[int(ann["question_id"])] = ann
    return out


def _vqa_records(questions: Path, subtype: str, annotations: dict[int, dict[str, Any]] | None,
                 key: str) -> list[Record]:
    out = []
    for i, q in enumerate(_list(read_json(questions), "questions", questions)):
        if not isinstance(q, dict) or not {"image_id", "question", "question_id"} <= set(q):
            raise UserError(f"{questions} question {i}: expected image_id, question and question_id")
        qid = int(q["question_id"])
        rec: Record = {"question": normalize_ws(q["question"]),
                       "image_id": _image_key(int(q["image_id"]), subtype, key), "question_id": qid}
        if annotations is not None:
            ann = annotations.get(qid)
            if ann is None:
                raise UserError(f"{questions}: question {qid} has no annotation in the annotations file")
            counts = Counter(normalize_answer(a.get("answer", "")) for a in ann["answers"])
            rec["answer"] = normalize_answer(ann.get("multiple_choice_answer", ""))
            rec["answer_type"] = str(ann.get("answer_type", ""))
            rec["_counts"] = counts
        out.append(rec)
    return out


def _vg_records(path: Path) -> list[Record]:
    data = read_json(path)
    if not isinstance(data, list):
        raise UserError(f"{path}: expected the Visual Genome question_answers.json list of images")
    out = []
    for entry in data:
        for qa in (entry.get("qas") or []) if isinstance(entry, dict) else []:
            if not isinstance(qa, dict) or not {"question", "answer"} <= set(qa):
                raise UserError(f"{path}: a VG QA lacks question/answer")
            image = qa.get("image_id", entry.get("id"))
            out.append({"question": normalize_ws(qa["question"]), "image_id": str(int(image)),
                        "question_id": f"vg{qa.get('qa_id', len(out))}",
                        "answer": normalize_answer(qa["answer"]), "answer_type": "vg"})
    return out


def convert(path: Path, options: Mapping[str, str]) -> Conversion:
    key = choice_option(options, "key", ("file_name", "id12"))
    num_answers = int_option(options, "num_answers", NUM_ANSWERS)
    min_count = int_option(options, "min_count", MIN_COUNT)
    questions, annotations, vg_path = _inputs(path)
    notes: list[str] = []
    splits: dict[str, list[Record]] = {}
    for subtype, qpath in sorted(questions.items()):
        split = SPLIT_OF[subtype]
        anns = _annotations(annotations[subtype]) if subtype in annotations else None
        if split in ("train", "val") and anns is None:
            raise UserError(f"{qpath.name} needs its annotations file v2_mscoco_{subtype}_annotations.json "
                            "beside it")
        splits.setdefault(split, []).extend(_vqa_records(qpath, subtype, anns, key))
    counted = Counter(r["answer"] for s in ("train", "val") for r in splits.get(s, []))
    frequent = sorted((a for a, c in counted.items() if c >= min_count and a), key=lambda a: (-counted[a], a))
    ans2label = {a: i for i, a in enumerate(frequent[:num_answers])}
    if not ans2label:
        raise UserError(f"no answer occurs {min_count}+ times in train/val; lower --opt min_count")
    zero = 0
    for recs in splits.values():
        for r in recs:
            counts = r.pop("_counts", None)
            if counts is None:
                continue
            r["labels"] = {a: soft_score(n) for a, n in counts.items() if a in ans2label}
            zero += not r["labels"]
    if zero:
        notes.append(f"{zero} questions have no answer in the {len(ans2label)}-answer vocabulary: kept with "
                     "zero targets, as the original")
    if vg_path is not None:
        vg = _vg_records(vg_path)
        for r in vg:
            r["labels"] = {r["answer"]: 1.0} if r["answer"] in ans2label else {}
        splits.setdefault("train", []).extend(vg)
        notes.append(f"{len(vg)} Visual Genome QA pairs appended to train (augmentation; images keyed by "
                     "VG id)")
    if "val" in splits:
        notes.append("val (VQA val2014) picks the best checkpoint; test has no public answers")
    meta = {"labels": f"soft scores (0.3 per annotator, 1.0 from 4) over {len(ans2label)} answers seen "
                      f"{min_count}+ times in train+val", "image_id": key}
    part = Part(suffix="", task="vqa", key_field="image_id", splits=splits, ans2label=ans2label, meta=meta)
    sources = [str(p) for p in [*questions.values(), *annotations.values(), *([vg_path] if vg_path else [])]]
    return Conversion(format="vqa", parts=[part], notes=notes, sources=sources)
