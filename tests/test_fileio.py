"""Crash-safe writes: a failure at any point leaves the previous file intact and no temp file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clpbert.fileio import atomic_write, atomic_write_json, atomic_write_text


def test_failure_while_writing_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    atomic_write_json(target, {"step": 1})

    def half_write(f) -> None:
        f.write(b'{"step": ')
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, half_write)
    assert json.loads(target.read_text()) == {"step": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_interrupt_before_rename_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    atomic_write_text(target, "old")

    def killed() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, lambda f: f.write(b"new"), before_replace=killed)
    assert target.read_text() == "old"
    assert len(list(tmp_path.iterdir())) == 1


def test_creates_parent_directories(tmp_path: Path) -> None:
    target = tmp_path / "x" / "y" / "z.txt"
    atomic_write_text(target, "héllo")
    assert target.read_text(encoding="utf-8") == "héllo"
