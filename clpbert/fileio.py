"""Crash-safe file writes: a reader (or a restart after kill -9) sees the old file or the new one.

Every write goes to a temp file in the same directory, is flushed and fsynced, renamed over the
target with os.replace (atomic on POSIX), and the directory is fsynced so the rename survives a
power cut. One implementation serves configs, txt_db splits, checkpoints, downloads and caches.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Make a rename or unlink inside `path` durable; filesystems that refuse are ignored."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], Any],
                 before_replace: Callable[[], None] | None = None) -> None:
    """Call write(f) on a temp file next to `path`, fsync it, rename it over `path`, fsync the dir.

    `before_replace` runs between the fsync and the rename (tests use it to kill mid-write).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
    try:
        with tmp.open("wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if before_replace is not None:
            before_replace()
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(target.parent)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def atomic_write_json(path: str | os.PathLike[str], data: Any, indent: int | None = None) -> None:
    atomic_write_text(path, json.dumps(data, ensure_ascii=False, indent=indent))
