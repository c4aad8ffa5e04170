"""Fixtures shared by the whole suite.

`real_data` points at ../shared/data/real (or $CLPBERT_REAL_DATA) and skips with a clear reason
when the files are absent. `clpbert_home` gives each test its own CLPBERT_HOME (registry, runs,
caches) so tests never touch the user's real data.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def real_data_dir() -> Path:
    env = os.environ.get("CLPBERT_REAL_DATA")
    return Path(env) if env else (REPO.parent / "shared" / "data" / "real")


@pytest.fixture(scope="session")
def real_data() -> Path:
    path = real_data_dir()
    if not (path / "README.md").exists():
        pytest.skip(f"real data not found at {path} (set CLPBERT_REAL_DATA to the shared/data/real folder)")
    return path


@pytest.fixture
def clpbert_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh CLPBERT_HOME for one test; the registry inside it is SQLite."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("CLPBERT_HOME", str(home))
    monkeypatch.delenv("CLPBERT_DB_URL", raising=False)
    return home
