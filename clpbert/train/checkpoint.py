"""Training checkpoints: atomic files, a `latest.json` pointer, keep-last-N and a best copy.

Layout under RUN_DIR/checkpoints/:
  step_0000100.pt   torch.save of a dict (see `CHECKPOINT_KEYS`); "model" is a plain state dict with
                    the released checkpoint's names, so predict / `clpbert ckpts inspect` load it directly
  latest.json       {"step": 100, "path": "step_0000100.pt"}  (written after the .pt is durable)
  best.pt           a hard link (or copy) of the best step file by the selection metric

Every file is written to a temp name in the same directory, flushed, fsynced, renamed with
os.replace and the directory fsynced, so a kill at any instant leaves the previous checkpoint and
pointer intact. `CLPBERT_TEST_CKPT_SLEEP` (seconds) sleeps between writing and renaming: a test hook
that gives a kill -9 a wide window.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from pathlib import Path
from typing import Any

import torch

from clpbert.fileio import atomic_write, fsync_dir
from clpbert.runs.run_dir import BEST, CKPT_DIR, LATEST

STEP_RE = re.compile(r"^step_(\d{7,})\.pt$")
TEMP_RE = re.compile(r"^\..+\.tmp(\d+)$")
"""Temp files of atomic_write / mark_best: `.step_0000100.pt.tmp<pid>`, left behind by a kill -9."""
CHECKPOINT_KEYS = ("model", "optimizer", "scaler", "step", "epoch", "data_pos", "rng", "config", "task",
                   "metric", "best_metric", "version")
FORMAT_VERSION = 1


def step_name(step: int) -> str:
    return f"step_{step:07d}.pt"


def _test_sleep() -> None:
    delay = float(os.environ.get("CLPBERT_TEST_CKPT_SLEEP", "0") or 0)
    if delay > 0:
        time.sleep(delay)


def save_checkpoint(run_dir: str | os.PathLike[str], step: int, state: dict[str, Any]) -> Path:
    """Write checkpoints/step_XXXXXXX.pt atomically, then point latest.json at it. Returns the path."""
    ckpt_dir = Path(run_dir) / CKPT_DIR
    path = ckpt_dir / step_name(step)
    state = {**state, "step": step, "version": FORMAT_VERSION}
    atomic_write(path, lambda f: torch.save(state, f), before_replace=_test_sleep)
    atomic_write(ckpt_dir / LATEST, lambda f: f.write(json.dumps({"step": step, "path": path.name}).encode()),
                 before_replace=_test_sleep)
    return path


def mark_best(run_dir: str | os.PathLike[str], path: Path) -> Path:
    """Make checkpoints/best.pt the given step file (hard link when possible), atomically."""
    best = Path(run_dir) / CKPT_DIR / BEST
    tmp = best.with_name(f".{BEST}.tmp{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    try:
        os.link(path, tmp)
    except OSError:
        import shutil

        shutil.copyfile(path, tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
    os.replace(tmp, best)
    fsync_dir(best.parent)
    return best


def list_step_checkpoints(run_dir: str | os.PathLike[str]) -> list[tuple[int, Path]]:
    ckpt_dir = Path(run_dir) / CKPT_DIR
    if not ckpt_dir.is_dir():
        return []
    out = []
    for p in ckpt_dir.iterdir():
        m = STEP_RE.match(p.name)
        if m:
            out.append((int(m.group(1)), p))
    return sorted(out)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(run_dir: str | os.PathLike[str]) -> list[Path]:
    """Delete temp files whose writer is gone (a kill during a checkpoint write leaves a
    checkpoint-sized one); a live process's temp file, this one's included, is left alone."""
    ckpt_dir = Path(run_dir) / CKPT_DIR
    if not ckpt_dir.is_dir():
        return []
    removed = []
    for p in ckpt_dir.iterdir():
        m = TEMP_RE.match(p.name)
        if m and int(m.group(1)) != os.getpid() and not _alive(int(m.group(1))):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
                removed.append(p)
    return removed


def prune(run_dir: str | os.PathLike[str], keep_last: int) -> list[Path]:
    """Delete all but the newest keep_last step files (best.pt is a separate link and survives),
    and temp files left by a killed writer."""
    removed = remove_stale_temps(run_dir)
    steps = list_step_checkpoints(run_dir)
    latest = latest_path(run_dir)
    for _, p in steps[: max(len(steps) - max(keep_last, 1), 0)]:
        if latest is not None and p.resolve() == latest.resolve():
            continue
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
            removed.append(p)
    return removed


def latest_path(run_dir: str | os.PathLike[str]) -> Path | None:
    """The file latest.json points at, if it exists."""
    pointer = Path(run_dir) / CKPT_DIR / LATEST
    try:
        data = json.loads(pointer.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    path = pointer.parent / str(data.get("path", ""))
    return path if path.is_file() else None


def load_file(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by save_checkpoint (plain containers and tensors only)."""
    return torch.load(path, map_location=map_location, weights_only=True)


def load_latest(run_dir: str | os.PathLike[str],
                map_location: str | torch.device = "cpu") -> tuple[Path, dict[str, Any]] | None:
    """The newest loadable checkpoint: the pointer's target, else the newest step file that loads."""
    candidates: list[Path] = []
    pointed = latest_path(run_dir)
    if pointed is not None:
        candidates.append(pointed)
    candidates += [p for _, p in reversed(list_step_checkpoints(run_dir)) if p not in candidates]
    for p in candidates:
        try:
            return p, load_file(p, map_location)
        except Exception:  # a torn or foreign file: try the next one
            continue
    return None


def has_checkpoint(run_dir: str | os.PathLike[str]) -> bool:
    return latest_path(run_dir) is not None or bool(list_step_checkpoints(run_dir))


# ------------------------------------------------------------------------------------------------
# RNG state (python, numpy, torch CPU, CUDA), saved per rank
# ------------------------------------------------------------------------------------------------


def rng_state() -> dict[str, Any]:
    import random

    import numpy as np

    np_state = np.random.get_state()
    py_version, py_state, py_gauss = random.getstate()
    state = {
        "python": {"version": py_version, "state": list(py_state), "gauss": py_gauss},
        "numpy": {"keys": torch.from_numpy(np_state[1].astype("int64")), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    import random

    import numpy as np

    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["state"]), py["gauss"]))
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype("uint32"), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])
