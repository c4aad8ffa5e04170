"""TGIF-QA: the folder of `{Train,Test}_{action,transition,frameqa}_question.csv` -> three datasets.

The files are named .csv but are TAB-separated with CRLF line endings and standard CSV quoting (two
Test_transition rows hold doubled quotes, e.g. the cell `write ""i love you""` wrapped in quotes reads
as `write "i love you"`), so they are read
with `csv.reader(delimiter="\\t")` on a `newline=""` file. Columns are found by header name.

Decisions:
* One dataset per sub-task: NAME-action, NAME-transition, NAME-frameqa (tasks tgif_qa_action,
  tgif_qa_transition, tgif_qa_frameqa), sharing one vis_db keyed by `gif_name`.
* Test -> split `test`; Train -> `train` and `val`: TGIF-QA ships no validation split (ClipBERT
  validated on the test set), so 10% of the Train GIFs (every question of them) are held out as
  `val` for model selection (base.hold_out_val: seeded, by GIF, none of the Test GIFs). The test
  split is evaluated once, on the checkpoint chosen on val.
* FrameQA `type` 0..3 -> answer_type object/number/color/location; its ans2label holds every
  Train+Test answer, most frequent first: the original's frameqa_trainval_ans2label, whose "val"
  was TGIF's test set (the vocabulary only; no model selection).
* `vid_id`, `key` and `description` are dropped; ClipBERT numbers questions itself.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping
from pathlib import Path

from clpbert.data.convert.base import Conversion, Part, Record, hold_out_val, top_answers
from clpbert.errors import UserError

SUBTASKS = ("action", "transition", "frameqa")
SPLIT_OF_PREFIX = {"train": "train", "test": "test"}
FRAMEQA_TYPES = ("object", "number", "color", "location")
MC_COLUMNS = ("gif_name", "question", "a1", "a2", "a3", "a4", "a5", "answer")
FRAMEQA_COLUMNS = ("gif_name", "question", "answer", "type")
_FILE_RE = re.compile(r"^(train|test)_(action|transition|frameqa)_question\.csv$", re.IGNORECASE)


def _find_files(path: Path) -> list[tuple[str, str, Path]]:
    """(subtask, split, file) for every TGIF-QA question file in the folder (or the one file)."""
    candidates = sorted(path.iterdir()) if path.is_dir() else [path]
    found = []
    for p in candidates:
        m = _FILE_RE.match(p.name)
        if m and p.is_file():
            found.append((m.group(2).lower(), SPLIT_OF_PREFIX[m.group(1).lower()], p))
    if not found:
        raise UserError(f"no TGIF-QA question files in {path}; expected names like "
                        "Train_action_question.csv, Test_frameqa_question.csv")
    return found


def _rows(path: Path, required: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """(line number, {column: stripped cell}) per data row; UserError on a missing column or short row."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f, delimiter="\t")
        header = [h.strip() for h in next(reader, [])]
        missing = [c for c in required if c not in header]
        if missing:
            raise UserError(f"{path} lacks column(s) {', '.join(missing)} (header: {', '.join(header)}); "
                            "is it a TAB-separated TGIF-QA question file?")
        out = []
        for row in reader:
            if not row or not any(cell.strip() for cell in row):
                continue
            if len(row) < len(header):
                raise UserError(f"{path}:{reader.line_num}: {len(row)} fields, the header has {len(header)}")
            out.append((reader.line_num, {h: cell.strip() for h, cell in zip(header, row, strict=False)}))
    return out


def _mc_record(path: Path, line: int, row: dict[str, str]) -> Record:
    try:
        answer = int(row["answer"])
    except ValueError:
        answer = -1
    if not 0 <= answer <= 4:
        raise UserError(f"{path}:{line}: answer {row['answer']!r} is not an option index 0-4")
    return {"gif_name": row["gif_name"], "question": row["question"],
            "options": [row[f"a{i}"] for i in range(1, 6)], "answer": answer}


def _frameqa_record(path: Path, line: int, row: dict[str, str]) -> Record:
    try:
        answer_type = FRAMEQA_TYPES[int(row["type"])]
    except (ValueError, IndexError):
        raise UserError(f"{path}:{line}: type {row['type']!r} is not 0-3 (object/number/color/location)") \
            from None
    return {"gif_name": row["gif_name"], "question": row["question"], "answer": row["answer"],
            "answer_type": answer_type}


def convert(path: Path, options: Mapping[str, str]) -> Conversion:
    files = _find_files(path)
    splits: dict[str, dict[str, list[Record]]] = {}
    for subtask, split, file in files:
        if subtask == "frameqa":
            records = [_frameqa_record(file, n, r) for n, r in _rows(file, FRAMEQA_COLUMNS)]
        else:
            records = [_mc_record(file, n, r) for n, r in _rows(file, MC_COLUMNS)]
        splits.setdefault(subtask, {})[split] = records
    parts = []
    notes = []
    for subtask in SUBTASKS:
        if subtask not in splits:
            continue
        have = splits[subtask]
        test_file = f"Test_{subtask}_question.csv"
        meta: dict[str, object] = {"split_source": {"train": "Train", "test": "Test"}}
        if "train" in have:
            held = hold_out_val(have.pop("train"), "gif_name",
                                exclude=(r["gif_name"] for r in have.get("test", [])))
            have = {"train": held.train, **({"val": held.val} if held.val else {}), **have}
            meta["val"] = held.describe(f"Train_{subtask}",
                                        f"{test_file} (the official test)" if "test" in have else None)
            notes.append(f"{subtask}: {meta['val']}")
        else:
            notes.append(f"{subtask}: no Train_{subtask}_question.csv, so no train or val split")
        ans2label = None
        if subtask == "frameqa":
            ans2label = top_answers((r["answer"] for recs in have.values() for r in recs), None)
            meta["ans2label"] = ("every Train+Test answer, most frequent first (the original's "
                                 "frameqa_trainval_ans2label, its val being TGIF's test)")
        parts.append(Part(suffix=subtask, task=f"tgif_qa_{subtask}", key_field="gif_name", splits=have,
                          ans2label=ans2label, meta=meta))
    return Conversion(format="tgif_qa", parts=parts, notes=notes, sources=[str(f) for _, _, f in files])
