"""`clpbert datasets prepare`: annotations (+ videos) -> txt_db + vis_db on disk -> registry rows.

Layout (the team's "Dataset directory" contract)::

    <datasets>/NAME/txt_db/{<split>.jsonl, ans2label.json, meta.json}
    <datasets>/NAME/vis_db/                   LMDB, keys = keys.media_key of the video files

A format that yields several datasets (TGIF-QA: action/transition/frameqa; MSRVTT with an MC
file: NAME and NAME-mc) registers NAME-<part> for each part; they share NAME/vis_db (each
NAME-<part>/vis_db is a relative symlink to it, and the registry row points at it directly). For
TGIF-QA, NAME itself then holds only that shared vis_db and is not a registered dataset.

Atomicity and resuming:
* A new dataset is built in a hidden `<datasets>/.NAME.partial/` and renamed to NAME only when
  everything succeeded; registry rows are written last. A failure (or `--strict` with missing
  videos) registers nothing; the videos packed so far stay in `.NAME.partial/vis_db`, and the next
  run with the same NAME resumes there, skipping keys already packed.
* Re-running on an existing dataset (e.g. to add `--videos` later) packs into its vis_db in place
  (LMDB transactions only ever add videos) and swaps the new txt_db in with renames, so the old
  registered dataset stays valid until the new one is complete.
* A file lock on `<datasets>/.NAME.lock` keeps two `prepare NAME` runs from interleaving.

The fingerprint is sha256 over every split's jsonl bytes (in split order) plus the sorted vis_db
key list, so two datasets with the same fingerprint feed a run identical data.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from clpbert import paths
from clpbert.data.convert.base import Conversion, Part, convert
from clpbert.data.convert.pack import PackResult, Progress, pack_videos
from clpbert.errors import UserError

EXAMPLES = 10
"""How many missing video ids a report lists (the count is always complete)."""


@dataclass
class PreparedDataset:
    """One registered dataset, as `--json` prints it."""

    name: str
    format: str
    task: str
    path: str
    txt_db: str
    vis_db: str
    splits: dict[str, int]
    fingerprint: str
    videos: int
    """Distinct vis_db keys its records reference."""
    missing_videos: int | None
    """Referenced keys absent from the vis_db (None: no vis_db yet, prepare without --videos)."""
    num_answers: int | None = None


UNDECODABLE_KEY = "failed"
"""PrepareReport.packed's count of videos that did not decode (a count, not a run state)."""


@dataclass
class PrepareReport:
    format: str
    datasets: list[PreparedDataset]
    vis_db: str
    packed: dict[str, int] | None
    """needed/packed/already/failed counts of this run's packing (None without --videos)."""
    missing_videos: int | None
    missing_examples: list[str] = field(default_factory=list)
    failed_examples: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def undecodable(self) -> int:
        """Videos this run found but could not pack (their file does not decode)."""
        return int((self.packed or {}).get(UNDECODABLE_KEY, 0))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _default_max_side(task: str) -> int:
    from clpbert.config import PRESETS

    return PRESETS[task]().data.max_img_size if task in PRESETS else 768


def _dataset_names(name: str, conv: Conversion) -> list[str]:
    return [f"{name}-{p.suffix}" if p.suffix else name for p in conv.parts]


def _check_existing(fmt: str, name: str, names: Sequence[str], store_is_dataset: bool) -> None:
    """Refuse to overwrite a dataset (on disk or registered) that came from another format."""
    from clpbert.registry import open_registry

    with open_registry() as reg:
        registered = {d.name: d for d in reg.list_datasets()}
    for n in [*names, *([] if store_is_dataset else [name])]:
        formats = {registered[n].format} if n in registered else set()
        meta_path = paths.dataset_dir(n) / "txt_db" / "meta.json"
        if meta_path.is_file():
            with contextlib.suppress(OSError, ValueError):
                formats.add(json.loads(meta_path.read_text()).get("format", ""))
        if n == name and not store_is_dataset and n in registered:
            raise UserError(f"dataset {n!r} is registered ({registered[n].format}) but {fmt} needs the name "
                            f"for its shared video store; pick another NAME or `clpbert datasets rm {n}`")
        other = formats - {fmt, ""}
        if other:
            raise UserError(f"dataset {n!r} already exists from format {sorted(other)[0]}; pick another "
                            f"NAME, or unregister it (`clpbert datasets rm {n}`) and delete "
                            f"{paths.dataset_dir(n)}")


def _stage_dir(name: str) -> Path:
    """Where dataset NAME is built: its final dir when it exists (re-run), else the hidden partial dir."""
    final = paths.dataset_dir(name)
    return final if final.exists() else paths.datasets_dir() / f".{name}.partial"


def fingerprint(txt_db: Path, split_names: Iterable[str], vis_keys: Iterable[str]) -> str:
    h = hashlib.sha256()
    for split in split_names:
        h.update(f"split\0{split}\0".encode())
        with open(txt_db / f"{split}.jsonl", "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    h.update(b"vis_db\0")
    for key in sorted(vis_keys):
        h.update(key.encode("utf-8") + b"\n")
    return h.hexdigest()


def _write_txt_db(stage: Path, part: Part, meta: Mapping[str, Any], vis_keys: list[str]) -> tuple[dict, str]:
    """Write the part's txt_db beside the old one, then swap it in; returns (split counts, fingerprint)."""
    from clpbert.data.txt_db import TxtDBWriter

    stage.mkdir(parents=True, exist_ok=True)
    tmp = stage / f".txt_db.tmp{os.getpid()}"
    old = stage / f".txt_db.old{os.getpid()}"
    for leftover in (tmp, old):
        if leftover.exists():
            shutil.rmtree(leftover)
    try:
        writer = TxtDBWriter(tmp)
        counts = {split: writer.write_split(split, records) for split, records in part.splits.items()}
        if part.ans2label is not None:
            writer.write_ans2label(part.ans2label)
        fp = fingerprint(tmp, list(part.splits), vis_keys)
        writer.write_meta({**meta, "splits": counts, "fingerprint": fp})
        final = stage / "txt_db"
        if final.exists():
            os.replace(final, old)
        os.replace(tmp, final)
    finally:
        for leftover in (tmp, old):
            if leftover.exists():
                shutil.rmtree(leftover)
    return counts, fp


def _link_vis_db(part_dir: Path, store_final: Path) -> None:
    """NAME-part/vis_db -> ../NAME/vis_db (relative, so the datasets folder can move)."""
    link = part_dir / "vis_db"
    target = os.path.relpath(store_final / "vis_db", part_dir)
    if link.is_symlink() or link.exists():
        if link.is_symlink() and os.readlink(link) == target:
            return
        if link.is_dir() and not link.is_symlink():
            return  # a real vis_db of its own (built before it became a part); leave it
        link.unlink()
    link.symlink_to(target, target_is_directory=True)


def _absent_keys(vis_db: Path, keys: Sequence[str], packed: PackResult | None) -> list[str] | None:
    if packed is not None:
        absent = set(packed.absent)
        return [k for k in keys if k in absent]
    if not (vis_db / "data.mdb").is_file():
        return None
    from clpbert.data.vis_db import VisDB

    db = VisDB(vis_db)
    try:
        return [k for k in keys if k not in db]
    finally:
        db.close()


def _vis_keys(vis_db: Path) -> list[str]:
    if not (vis_db / "data.mdb").is_file():
        return []
    from clpbert.data.vis_db import VisDB

    db = VisDB(vis_db)
    try:
        return list(db.keys())
    finally:
        db.close()


def prepare(fmt: str, annotations: str | os.PathLike[str], name: str, *,
            videos: str | os.PathLike[str] | None = None, frames_fps: float | None = None,
            max_side: int | None = None, strict: bool = False, options: Mapping[str, str] | None = None,
            progress: Progress | None = None, reencode: bool = False) -> PrepareReport:
    """Convert, pack, write and register; see the module docstring for the guarantees."""
    from filelock import FileLock

    started = time.time()
    paths.check_name(name, "dataset name")
    video_path = Path(videos).expanduser() if videos is not None else None
    if video_path is not None and not video_path.exists():
        raise UserError(f"--videos {video_path} does not exist; pass a folder of videos or a tar archive")
    if frames_fps is not None and frames_fps <= 0:
        raise UserError(f"--frames-fps must be positive, got {frames_fps}")
    if frames_fps is not None and video_path is None:
        raise UserError("--frames-fps needs --videos (it decides how videos are packed)")
    if reencode and frames_fps is not None:
        raise UserError("--reencode and --frames-fps are two ways to store videos; pass one of them")
    if reencode and video_path is None:
        raise UserError("--reencode needs --videos (it decides how videos are packed)")
    if max_side is not None and max_side < 16:
        raise UserError(f"--max-side must be at least 16 pixels, got {max_side}")

    conv = convert(fmt, annotations, options)
    names = _dataset_names(name, conv)
    store_is_dataset = name in names
    side = max_side or _default_max_side(conv.parts[0].task)

    paths.datasets_dir().mkdir(parents=True, exist_ok=True)
    with FileLock(str(paths.datasets_dir() / f".{name}.lock")):
        _check_existing(fmt, name, names, store_is_dataset)
        store_stage = _stage_dir(name)
        store_final = paths.dataset_dir(name)
        vis_db = store_stage / "vis_db"
        all_keys = conv.video_keys()

        packed = None
        if video_path is not None:
            packed = pack_videos(video_path, vis_db, all_keys, key_style=conv.key_style,
                                 frames_fps=frames_fps, max_side=side, progress=progress, reencode=reencode)
        absent = _absent_keys(vis_db, all_keys, packed)
        if strict:
            if absent is None:
                raise UserError("--strict checks that every video is packed; add --videos DIR|TAR")
            if absent:
                raise UserError(f"--strict: {len(absent)} of {len(all_keys)} videos missing or undecodable "
                                f"(e.g. {', '.join(absent[:3])}); nothing registered (videos packed so far "
                                f"are kept in {vis_db} for a re-run)")
        if packed is not None and all_keys and len(absent or ()) == len(set(all_keys)):
            failed = dict(packed.failed)
            why = (f"{len(packed.missing)} without a file, {len(failed)} undecodable"
                   + (f", e.g. {next(iter(failed))}: {next(iter(failed.values()))}" if failed else ""))
            raise UserError(f"none of the {len(set(all_keys))} referenced videos could be stored ({why}); "
                            f"nothing registered: fix or replace the files in {video_path} and run prepare "
                            "again")
        absent_set = set(absent or ())
        vis_keys = _vis_keys(vis_db)

        results = []
        for part, ds_name in zip(conv.parts, names, strict=True):
            stage = store_stage if ds_name == name else _stage_dir(ds_name)
            keys = part.video_keys()
            missing = None if absent is None else sum(1 for k in keys if k in absent_set)
            meta = {"name": ds_name, "format": fmt, "task": part.task, "key_field": part.key_field,
                    "key_style": conv.key_style, **part.meta, "sources": conv.sources,
                    "options": dict(options or {}), "notes": conv.notes, "created": time.time(),
                    "videos": {"referenced": len(keys), "missing": missing},
                    "vis_db": "vis_db" if ds_name == name else f"../{name}/vis_db"}
            counts, fp = _write_txt_db(stage, part, meta, vis_keys)
            results.append((part, ds_name, stage, counts, fp, len(keys), missing))

        # Everything is written: move the new directories into place, then register.
        if store_stage != store_final:
            store_stage.mkdir(parents=True, exist_ok=True)
            os.replace(store_stage, store_final)
        prepared = []
        for part, ds_name, stage, counts, fp, n_keys, missing in results:
            final = paths.dataset_dir(ds_name)
            if ds_name != name:
                if stage != final:
                    os.replace(stage, final)
                _link_vis_db(final, store_final)
            prepared.append(PreparedDataset(
                name=ds_name, format=fmt, task=part.task, path=str(final), txt_db=str(final / "txt_db"),
                vis_db=str(store_final / "vis_db"), splits=counts, fingerprint=fp, videos=n_keys,
                missing_videos=missing,
                num_answers=len(part.ans2label) if part.ans2label is not None else None))
        _register(prepared)

    return PrepareReport(
        format=fmt, datasets=prepared, vis_db=str(store_final / "vis_db"),
        packed=None if packed is None else {"needed": packed.needed, "packed": packed.packed,
                                            "already": packed.already, UNDECODABLE_KEY: len(packed.failed),
                                            "by_stem": packed.by_stem},
        missing_videos=None if absent is None else len(absent),
        missing_examples=list((absent or [])[:EXAMPLES]),
        failed_examples=[[k, why] for k, why in (packed.failed if packed else [])[:EXAMPLES]],
        notes=list(conv.notes), seconds=round(time.time() - started, 3))


def _register(prepared: Sequence[PreparedDataset]) -> None:
    """One row per dataset; if a later row fails, the rows this call created are removed again."""
    from clpbert.registry import open_registry

    with open_registry() as reg:
        existed = {d.name for d in reg.list_datasets()}
        done: list[str] = []
        try:
            for ds in prepared:
                reg.add_dataset(ds.name, format=ds.format, task=ds.task, txt_db=ds.txt_db, vis_db=ds.vis_db,
                                splits=ds.splits, fingerprint=ds.fingerprint)
                done.append(ds.name)
        except BaseException:
            for n in done:
                if n not in existed:
                    reg.remove_dataset(n)
            raise
