"""What every converter returns, the table of known formats, and the small parsing helpers they share.

A converter is a module with one function `convert(path, options) -> Conversion`. It only reads the
annotation files as the dataset ships them and returns the ClipBERT records per split (spec §3.2);
writing txt_db/vis_db, packing videos and registering is `prepare.py`'s job, so every format gets
the same atomicity, resumability and reporting.

Most formats give one dataset (`Part` with suffix ""); TGIF-QA gives three (action, transition,
frameqa) that share one video store.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clpbert.errors import UserError

Record = dict[str, Any]


@dataclass
class Part:
    """One dataset of a conversion: its ClipBERT task, records per split, and answer vocabulary."""

    suffix: str
    """"" for the dataset itself; "action" registers NAME-action (TGIF-QA's sub-tasks)."""
    task: str
    """The preset (clpbert/config.py) this dataset feeds: msrvtt_qa, tgif_qa_frameqa, ..."""
    key_field: str
    """The record field holding the vis_db key: clip_name, video_id, gif_name, coco_id or vg_id."""
    splits: dict[str, list[Record]]
    ans2label: dict[str, int] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    """Extra meta.json entries: the decisions taken (join order, key convention, sources)."""

    def video_keys(self) -> list[str]:
        """vis_db keys referenced by any split, in first-seen order (packing follows this order)."""
        seen: dict[str, None] = {}
        for records in self.splits.values():
            for rec in records:
                seen.setdefault(str(rec[self.key_field]), None)
        return list(seen)


@dataclass
class Conversion:
    """The parsed annotations of one `prepare` call."""

    format: str
    parts: list[Part]
    notes: list[str] = field(default_factory=list)
    """Things the user should know that are not errors (a split that could not be built, ...)."""
    sources: list[str] = field(default_factory=list)
    """Annotation files read, for meta.json."""
    key_style: str = "stem"
    """How a video file name becomes its vis_db key (`keys.media_key`): `stem`, or `name` (DiDeMo)."""

    def video_keys(self) -> list[str]:
        seen: dict[str, None] = {}
        for part in self.parts:
            for key in part.video_keys():
                seen.setdefault(key, None)
        return list(seen)


@dataclass(frozen=True)
class FormatInfo:
    """A known annotation format: the module that converts it and its `--opt` options."""

    name: str
    module: str
    summary: str
    options: Mapping[str, str] = field(default_factory=dict)


FORMATS: dict[str, FormatInfo] = {f.name: f for f in [
    FormatInfo("tgif_qa", "tgif_qa",
               "TGIF-QA folder of TAB-separated {Train,Test}_{action,transition,frameqa}_question.csv "
               "-> NAME-action, NAME-transition, NAME-frameqa (one shared vis_db)"),
    FormatInfo("msrvtt_qa", "msrvtt_qa",
               "MSRVTT-QA {train,val,test}_qa.json (a folder or one file; MSVD-QA has the same layout)",
               {"num_answers": "size of train_ans2label (default 1500, the original's)"}),
    FormatInfo("msrvtt_ret", "msrvtt_ret",
               "MSRVTT retrieval: train_val_videodatainfo.json and/or the JSFusion split csvs "
               "(MSRVTT_train.7k.csv, MSRVTT_JSFUSION_test.csv), optional multiple-choice file",
               {"train_videos": "7k (default, ClipBERT's) or 9k: which train csv selects train videos"}),
    FormatInfo("didemo", "didemo",
               "DiDeMo {train,val,test}_data.json -> one paragraph per video"),
    FormatInfo("anet_captions", "anet_captions",
               "ActivityNet Captions train.json / val_1.json / val_2.json (+ *_ids.json) -> one paragraph "
               "per video; val_1 -> dev"),
    FormatInfo("coco_captions", "coco_captions",
               "COCO captions_{train,val}{2014,2017}.json -> one line per caption",
               {"key": "id12 (default: '%012d' % image_id, the 2017 file stem) or file_name "
                       "(the image record's file stem, e.g. COCO_val2014_000000397133 for 2014 files)"}),
    FormatInfo("vqa", "vqa",
               "VQA v2 v2_OpenEnded_mscoco_*_questions.json + v2_mscoco_*_annotations.json (+ Visual Genome "
               "question_answers.json as train augmentation) -> soft-score answers",
               {"num_answers": "vocabulary size (default 3129, the original's)",
                "min_count": "answers seen fewer times in train+val are left out (default 9)",
                "key": "file_name (default: COCO_<subtype>_%012d, the image file stem) or id12"}),
    FormatInfo("vg_regions", "vg_regions",
               "Visual Genome region_descriptions.json -> one line per region phrase",
               {"split": "split name for the records (default train; VG ships no split)"}),
]}


def get_format(name: str) -> FormatInfo:
    if name not in FORMATS:
        raise UserError(f"unknown dataset format {name!r}; known formats: {', '.join(FORMATS)}")
    return FORMATS[name]


def convert(fmt: str, path: str | os.PathLike[str], options: Mapping[str, str] | None = None) -> Conversion:
    """Parse the annotations at `path` (file or folder, as the dataset ships them) in format `fmt`."""
    info = get_format(fmt)
    options = dict(options or {})
    unknown = sorted(set(options) - set(info.options))
    if unknown:
        known = ", ".join(info.options) or "none"
        raise UserError(f"format {fmt} has no option {unknown[0]!r} (its options: {known})")
    p = Path(path).expanduser()
    if not p.exists():
        raise UserError(f"annotations not found: {p} does not exist; pass the file or folder as the dataset "
                        "ships it with --annotations")
    module = importlib.import_module(f"clpbert.data.convert.{info.module}")
    conv: Conversion = module.convert(p, options)
    if not any(records for part in conv.parts for records in part.splits.values()):
        raise UserError(f"no {fmt} records found in {p}; is it the right file or format?")
    return conv


# --------------------------------------------------------------------------------------------
# Helpers shared by the converters
# --------------------------------------------------------------------------------------------


def read_json(path: Path) -> Any:
    """Parsed JSON, or one UserError naming the file."""
    try:
        with open(path, encoding="utf-8-sig") as f:
            return json.load(f)
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{path} is not valid JSON ({e}); pass the file as the dataset ships it") from None


def normalize_ws(text: str) -> str:
    """Collapse every run of whitespace (newlines, tabs, doubled spaces) to one space and strip."""
    return " ".join(str(text).split())


def pick_files(path: Path, split_of: Mapping[str, str], what: str) -> list[tuple[str, Path]]:
    """(split, file) for a folder (the files of `split_of` that exist) or a single file.

    `split_of` maps a lower-cased file name to the split it becomes. A single file whose name is not
    in the map is a UserError naming the expected names: guessing a split silently would put test
    data into train.
    """
    if path.is_dir():
        found = [(split, path / name) for name, split in split_of.items() if (path / name).is_file()]
        if not found:
            # case-insensitive fallback for the folder listing
            by_lower = {p.name.lower(): p for p in path.iterdir() if p.is_file()}
            found = [(split, by_lower[name]) for name, split in split_of.items() if name in by_lower]
        if not found:
            raise UserError(f"no {what} files in folder {path}; expected one of: {', '.join(split_of)}")
        return found
    split = split_of.get(path.name.lower())
    if split is None:
        raise UserError(f"cannot tell the split of {path.name}; name it as the dataset ships it "
                        f"({', '.join(split_of)}) or pass the folder")
    return [(split, path)]


def top_answers(answers: Iterable[str], limit: int | None) -> dict[str, int]:
    """ans2label of the `limit` most frequent answers (all when fewer); ties broken alphabetically.

    Labels are 0..K-1 in that order, so the vocabulary is deterministic for the same input.
    """
    counts = Counter(answers)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    if limit is not None:
        ranked = ranked[:limit]
    return {answer: label for label, (answer, _) in enumerate(ranked)}


VAL_FRACTION = 0.1
"""Share of the train videos held out as `val` when a release ships no validation split."""
VAL_SEED = "clpbert-val-1"
"""Seeds the held-out choice; changing it changes every carved val split (and the fingerprints)."""


@dataclass
class HeldOut:
    """A train split cut in two by video: what stays in train, and the held-out val."""

    train: list[Record]
    val: list[Record]
    videos: int
    """Videos in val."""
    fraction: float

    def describe(self, source: str, test: str | None) -> str:
        """The one line `datasets prepare` prints: what was held out, and what test is (None: absent)."""
        if not self.val:
            return (f"no val split: {source} has too few videos to hold one out; "
                    + (f"test = {test}" if test else "no test split"))
        line = (f"val: {self.fraction:.0%} of {source} videos held out ({self.videos:,} "
                f"video{'s' if self.videos != 1 else ''}, seeded by video id); ")
        if test is None:
            return line + "no test split"
        return line + f"test = {test}, evaluated once on the checkpoint chosen on val"


def hold_out_val(records: list[Record], key_field: str, *, exclude: Iterable[str] = (),
                 fraction: float = VAL_FRACTION, seed: str = VAL_SEED) -> HeldOut:
    """Hold out round(fraction x videos) of the train videos (at least 1 of 2+) as a validation
    split, by video.

    Model selection must never see the test split, and releases such as TGIF-QA (Train/Test) and
    ActivityNet Captions (train/val_1/val_2, the paper reports val_1) have no other. Every
    question/caption of a chosen video goes to val, so no video is in two splits; videos in
    `exclude` (the test split's) are never chosen. The choice ranks videos by sha256(seed, video
    id): deterministic, independent of file order, the same on every machine and Python version.
    """
    keys = list(dict.fromkeys(str(r[key_field]) for r in records))
    banned = set(exclude)
    ranked = sorted((k for k in keys if k not in banned),
                    key=lambda k: hashlib.sha256(f"{seed}\0{k}".encode()).digest())
    n = round(len(keys) * fraction) or (1 if len(keys) >= 2 else 0)  # a small release still gets a val
    n = min(n, len(ranked), max(len(keys) - 1, 0))  # and keeps at least one train video
    chosen = set(ranked[:n])
    return HeldOut(train=[r for r in records if str(r[key_field]) not in chosen],
                   val=[r for r in records if str(r[key_field]) in chosen], videos=len(chosen),
                   fraction=fraction)


def int_option(options: Mapping[str, str], key: str, default: int) -> int:
    value = options.get(key)
    if value is None:
        return default
    try:
        out = int(value)
    except ValueError:
        raise UserError(f"--opt {key}={value!r}: expected a whole number") from None
    if out < 1:
        raise UserError(f"--opt {key}={value}: must be at least 1")
    return out


def choice_option(options: Mapping[str, str], key: str, choices: tuple[str, ...]) -> str:
    value = options.get(key, choices[0])
    if value not in choices:
        raise UserError(f"--opt {key}={value!r}: expected one of {', '.join(choices)}")
    return value
