"""Shared CLI fixture: `clpbert ARGS` in this process, through the console script's entry point."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest


@pytest.fixture
def inproc(clpbert_home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    """inproc(*args, fake_nvml=None) -> CompletedProcess: same entry point and error edge as the
    installed `clpbert`, without an interpreter start per call."""
    from cli.app import main

    def call(*args: str, fake_nvml: str | None = None) -> subprocess.CompletedProcess[str]:
        if fake_nvml:
            monkeypatch.setenv("CLPBERT_FAKE_NVML", fake_nvml)
        else:
            monkeypatch.delenv("CLPBERT_FAKE_NVML", raising=False)
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(["clpbert", *args], code, out, err)

    return call
