"""The text store (txt_db): one jsonl file per split, plus the answer vocabulary and a meta record.

Layout of a txt_db directory (the team's "Dataset directory" contract)::

    <txt_db>/<split>.jsonl       one JSON object per line, the original's fields per task (spec §3.2)
    <txt_db>/ans2label.json      {answer: label}, QA tasks only (spec §3.3)
    <txt_db>/meta.json           {"format": ..., "task": ..., "splits": {split: count}, ...}

Records are kept exactly as the original loaders read them (`caption`/`clip_name`, `question`/`answer`/
`video_id`, `gif_name`/`options` ...), so a txt_db built by the original scripts can be used as is.
Writes are atomic (temp file + fsync + rename): a reader never sees half a split.

Reading::

    db = TxtDB(path)            # UserError now if the directory is missing
    db.splits()                 # ['train', 'val']
    rows = db.read("train")     # list[dict]; UserError naming the file if the split is missing
    db.ans2label()              # {} when the file is absent
    db.meta()                   # {} when the file is absent

Writing::

    w = TxtDBWriter(path)
    w.write_split("train", records)        # returns the count
    w.write_ans2label({"cat": 0, ...})
    w.write_meta({"format": "msrvtt_qa", "task": "msrvtt_qa"})   # "splits" is filled in from disk
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from clpbert.errors import UserError
from clpbert.fileio import atomic_write_text

ANS2LABEL = "ans2label.json"
META = "meta.json"
SPLIT_SUFFIX = ".jsonl"

_FIX = "build it with `clpbert datasets prepare NAME` or point data.txt_db at an existing txt_db"


KEY_FIELDS = ("video_id", "clip_name", "gif_name", "coco_id", "vg_id", "image_id")


def record_key(rec: dict[str, Any]) -> str:
    """The vis_db key of a txt_db record (the first id field present, spec §3.2)."""
    for name in KEY_FIELDS:
        if name in rec and rec[name] is not None:
            return str(rec[name])
    raise UserError(f"txt_db record has none of the id fields {', '.join(KEY_FIELDS)}: {str(rec)[:120]}; "
                    "re-create the txt_db with `clpbert datasets prepare NAME`")


def label_names(ans2label: Mapping[str, int]) -> list[str]:
    """Answers in label-id order (`<label i>` for an id no answer maps to): how a label is shown."""
    names = [f"<label {i}>" for i in range(max(int(v) for v in ans2label.values()) + 1)]
    for answer, idx in ans2label.items():
        names[int(idx)] = str(answer)
    return names


class TxtDB:
    """Read-only view of a txt_db directory. Checks the directory exists at construction."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        if not self.path.is_dir():
            raise UserError(f"txt_db directory {self.path} does not exist; {_FIX}")

    def splits(self) -> list[str]:
        """Split names (jsonl file stems), sorted."""
        return sorted(p.name[: -len(SPLIT_SUFFIX)] for p in self.path.glob(f"*{SPLIT_SUFFIX}")
                      if not p.name.startswith("."))

    def split_path(self, split: str) -> Path:
        return self.path / f"{split}{SPLIT_SUFFIX}"

    def require(self, split: str) -> Path:
        """The split's file, or one UserError naming it and the splits that do exist."""
        p = self.split_path(split)
        if not p.is_file():
            have = ", ".join(self.splits()) or "none"
            raise UserError(f"txt_db split {split!r} not found: {p} is missing (splits here: {have}); "
                            f"set data.train_split/data.val_split to one of them or {_FIX}")
        return p

    def read(self, split: str) -> list[dict[str, Any]]:
        """All records of a split, in file order. Blank lines are skipped; a bad line is a UserError."""
        p = self.require(split)
        out: list[dict[str, Any]] = []
        with open(p, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as e:
                    raise UserError(f"{p}:{lineno} is not valid JSON ({e.msg}); re-create the txt_db "
                                    "with `clpbert datasets prepare NAME`") from None
                if not isinstance(rec, dict):
                    raise UserError(f"{p}:{lineno} is not a JSON object; re-create the txt_db")
                out.append(rec)
        return out

    def ans2label(self) -> dict[str, int]:
        """The answer vocabulary ({} when the txt_db has none, e.g. retrieval)."""
        p = self.path / ANS2LABEL
        if not p.is_file():
            return {}
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise UserError(f"{p} is not valid JSON ({e.msg}); re-create the txt_db") from None
        return {str(k): int(v) for k, v in data.items()}

    def meta(self) -> dict[str, Any]:
        p = self.path / META
        if not p.is_file():
            return {}
        try:
            return json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise UserError(f"{p} is not valid JSON ({e.msg}); re-create the txt_db") from None


class TxtDBWriter:
    """Writes a txt_db directory; every file is replaced atomically."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)

    def write_split(self, split: str, records: Iterable[Mapping[str, Any]]) -> int:
        """Write `<split>.jsonl` (one compact JSON object per line); returns the record count."""
        if not split or "/" in split or split.startswith("."):
            raise ValueError(f"bad split name {split!r}")
        lines = [json.dumps(dict(r), ensure_ascii=False) for r in records]
        atomic_write_text(self.path / f"{split}{SPLIT_SUFFIX}", "".join(line + "\n" for line in lines))
        return len(lines)

    def write_ans2label(self, ans2label: Mapping[str, int]) -> None:
        labels = sorted(int(v) for v in ans2label.values())
        if labels != list(range(len(labels))):
            raise ValueError("ans2label labels must be 0..n-1 without gaps or duplicates")
        atomic_write_text(self.path / ANS2LABEL, json.dumps(dict(ans2label), ensure_ascii=False, indent=0))

    def write_meta(self, meta: Mapping[str, Any]) -> dict[str, Any]:
        """Write meta.json; `splits` is filled from the jsonl files on disk unless given. Returns it."""
        out = dict(meta)
        if "splits" not in out:
            db = TxtDB(self.path)
            out["splits"] = {s: _count_lines(db.split_path(s)) for s in db.splits()}
        atomic_write_text(self.path / META, json.dumps(out, ensure_ascii=False, indent=2) + "\n")
        return out


def _count_lines(path: Path) -> int:
    with open(path, encoding="utf-8") as f:
        return sum(1 for line in f if line.strip())
