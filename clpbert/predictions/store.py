"""RUN_DIR/predictions/: one Parquet file per evaluation (step and split), written by rank 0.

File names sort by step: `step00000200-val.parquet`; an evaluation of a step that already has a
file (a resumed or re-evaluated run) gets `-2`, `-3`, ... so nothing is overwritten. Retention
follows eval.keep_last like checkpoints: the files of the newest keep_last evaluated steps and of
the best step stay. pyarrow is imported inside the functions (the CLI starts without it).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from clpbert.errors import UserError
from clpbert.predictions.schema import COLUMNS, KINDS, SCHEMA_VERSION

PRED_DIR = "predictions"
_NAME = re.compile(r"^step(\d+)-(.+?)(?:-(\d+))?\.parquet$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._]+")


def arrow_schema() -> Any:
    import pyarrow as pa

    string = pa.string()
    types = {"correct": pa.bool_(), "credit": pa.float64(), "score": pa.float64(), "rank": pa.int32(),
             "candidates": pa.list_(string), "candidate_scores": pa.list_(pa.float32())}
    return pa.schema([pa.field(c, types.get(c, string)) for c in COLUMNS])


def _free_name(folder: Path, step: int, split: str) -> Path:
    base = f"step{int(step):08d}-{_UNSAFE.sub('_', split) or 'split'}"
    path, n = folder / f"{base}.parquet", 1
    while path.exists():
        n += 1
        path = folder / f"{base}-{n}.parquet"
    return path


def write_predictions(run_dir: str | os.PathLike[str], step: int, split: str, kind: str,
                      rows: Sequence[dict[str, Any]], *, task: str = "", expected: int | None = None) -> Path:
    """Write rows (schema.record dicts) atomically; returns the path relative to the run dir."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if kind not in KINDS:
        raise ValueError(f"unknown predictions kind {kind!r}")
    folder = Path(run_dir) / PRED_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = _free_name(folder, step, split)
    meta = {"kind": kind, "task": task, "split": split, "step": int(step),
            "expected": int(len(rows) if expected is None else expected), "version": SCHEMA_VERSION}
    schema = arrow_schema().with_metadata({"clpbert": json.dumps(meta)})
    table = pa.Table.from_pylist(list(rows), schema=schema)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    pq.write_table(table, tmp, compression="lz4")  # reads ~1.7x faster than zstd, files ~1.5x larger
    os.replace(tmp, path)
    return path.relative_to(run_dir)


def read_table(path: str | os.PathLike[str], columns: Sequence[str] | None = None) -> Any:
    """The pyarrow Table of a predictions file (only `columns` when given)."""
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path, columns=list(columns) if columns else None)
    except FileNotFoundError:
        raise UserError(f"predictions file {path} is gone (removed by eval.keep_last retention or by "
                        "hand); evaluate the run again to write it") from None


def read_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The file's metadata: kind, task, split, step, expected, version."""
    import pyarrow.parquet as pq

    raw = (pq.read_schema(path).metadata or {}).get(b"clpbert", b"{}")
    return json.loads(raw)


def read_rows(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every row as a dict (schema.COLUMNS), in file order."""
    return read_table(path).to_pylist()


def list_files(run_dir: str | os.PathLike[str]) -> list[tuple[int, str, Path]]:
    """(step, split, path) of every predictions file, by step then name."""
    folder = Path(run_dir) / PRED_DIR
    out = []
    for p in sorted(folder.glob("step*.parquet")) if folder.is_dir() else []:
        m = _NAME.match(p.name)
        if m:
            out.append((int(m.group(1)), m.group(2), p))
    return out


def prune(run_dir: str | os.PathLike[str], keep_last: int, keep_steps: Iterable[int] = ()) -> list[Path]:
    """Delete the files of all but the newest keep_last evaluated steps, sparing `keep_steps` (best)."""
    files = list_files(run_dir)
    steps = sorted({s for s, _, _ in files})
    keep = set(steps[-max(keep_last, 1):]) | {int(s) for s in keep_steps}
    removed = []
    for step, _, path in files:
        if step not in keep:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
    return removed
