"""Where clpbert keeps things: CLPBERT_HOME, the registry URL, run and dataset folders."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from clpbert import paths
from clpbert.errors import UserError


def test_home_and_subfolders_follow_env(clpbert_home: Path):
    assert paths.home() == clpbert_home
    assert paths.runs_dir() == clpbert_home / "runs"
    assert paths.run_dir("abcd1234") == clpbert_home / "runs" / "abcd1234"
    assert paths.cache_dir() == clpbert_home / "cache"
    assert paths.pretrained_dir() == clpbert_home / "pretrained"
    assert paths.dataset_dir("msrvtt") == clpbert_home / "datasets" / "msrvtt"
    assert paths.db_url() == f"sqlite:///{clpbert_home}/registry.db"


def test_db_url_env_overrides(clpbert_home: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CLPBERT_DB_URL", "postgresql+psycopg://u@h/db")
    assert paths.db_url() == "postgresql+psycopg://u@h/db"
    assert paths.locations()["db"] == "postgresql+psycopg://u@h/db"


def test_default_home_is_platform_user_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.delenv("CLPBERT_HOME", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert paths.home() == tmp_path / "xdg" / "clpbert"
    else:
        assert paths.home().name == "clpbert"


@pytest.mark.parametrize("bad", ["", "..", "a/b", "../x", "-flag", "a b"])
def test_names_that_escape_their_folder_are_refused(clpbert_home: Path, bad: str):
    with pytest.raises(UserError):
        paths.dataset_dir(bad)
    with pytest.raises(UserError):
        paths.run_dir(bad)


def test_paths_module_imports_nothing_heavy():
    code = ("import sys, clpbert.paths; "
            "print(sorted(m for m in ('sqlalchemy', 'torch', 'typer', 'rich', 'yaml') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
