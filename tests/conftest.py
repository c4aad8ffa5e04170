"""Fixtures shared by the whole suite.

`real_data` points at ../shared/data/real (or $CLPBERT_REAL_DATA) and skips with a clear reason
when the files are absent. `clpbert_home` gives each test its own CLPBERT_HOME (registry, runs,
caches) so tests never touch the user's real data. Every test taking `registry` runs on SQLite and,
when CLPBERT_TEST_PG_URL is set (`eval "$(bash .ci/postgres.sh)"`), again on PostgreSQL with a
freshly emptied schema (one database per pytest-xdist worker).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

SHARED_SCOPES = ("tests/predict/",)
"""Folders whose test files share expensive session fixtures (the predict tests' trained runs): under
pytest-xdist all their files go to one worker, so no worker sits waiting for another's training."""
LONGEST_FIRST = ("tests/predict/", "tests/runs/test_kill_resume_trials.py", "tests/runs/test_multinode.py",
                 "tests/runs/test_slurm_standins.py")
"""The scopes that take minutes, handed out first so the two workers finish at about the same time."""


def _scope(nodeid: str) -> str:
    path = nodeid.split("::", 1)[0]
    return next((s for s in SHARED_SCOPES if path.startswith(s)), path)


def pytest_xdist_make_scheduler(config, log):
    """--dist loadfile, except that a SHARED_SCOPES folder is one scope."""
    from xdist.scheduler import LoadScopeScheduling

    class FileOrSharedFolder(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _scope(nodeid)

    return FileOrSharedFolder(config, log)


def pytest_collection_modifyitems(config, items) -> None:
    """Collect the LONGEST_FIRST scopes first (stable otherwise): xdist hands scopes out in order."""
    def rank(item) -> int:
        path = item.nodeid.split("::", 1)[0]
        return next((i for i, s in enumerate(LONGEST_FIRST) if path.startswith(s)), len(LONGEST_FIRST))

    items.sort(key=rank)


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


@pytest.fixture
def margin(request: pytest.FixtureRequest):
    """margin(name, value, limit): record how far a learned-behaviour check is from its threshold.

    A no-op unless CLPBERT_MARGIN_LOG names a file; then one JSON line per call is appended (with
    CLPBERT_TEST_SEED/THREADS), which is how the margins stated in those tests' docstrings were measured.
    """
    import json

    log = os.environ.get("CLPBERT_MARGIN_LOG")

    def record(name: str, value: float, limit: float) -> None:
        if log:
            with open(log, "a") as f:
                f.write(json.dumps({"test": request.node.nodeid, "check": name, "value": value,
                                    "limit": limit, "seed": os.environ.get("CLPBERT_TEST_SEED", "0"),
                                    "threads": os.environ.get("CLPBERT_TEST_THREADS", "1")}) + "\n")

    return record


def _worker_pg_url(url: str | None) -> str | None:
    """Under pytest-xdist each worker gets its own database (<db>_gw0, ...), created on first use:
    the tests empty the schema they run on, so two workers must never share one."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not url or not worker:
        return url
    from sqlalchemy import create_engine, make_url, text

    base = make_url(url)
    name = f"{base.database}_{worker}"
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first():
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    worker_url = base.set(database=name).render_as_string(hide_password=False)
    os.environ["CLPBERT_TEST_PG_URL"] = worker_url  # for tests and subprocesses that read it directly
    return worker_url


PG_URL = _worker_pg_url(os.environ.get("CLPBERT_TEST_PG_URL"))


def reset_pg(url: str) -> None:
    """Drop every table (fresh schema) so each test starts from an empty PostgreSQL database."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(params=[
    "sqlite",
    pytest.param("postgresql", marks=[
        pytest.mark.postgres,
        pytest.mark.skipif(not PG_URL, reason="CLPBERT_TEST_PG_URL not set "
                           "(run `eval \"$(bash .ci/postgres.sh)\"` to test PostgreSQL)"),
    ]),
])
def registry_url(request: pytest.FixtureRequest, clpbert_home: Path) -> str:
    if request.param == "postgresql":
        assert PG_URL
        reset_pg(PG_URL)
        return PG_URL
    return f"sqlite:///{clpbert_home / 'registry.db'}"


@pytest.fixture
def registry(registry_url: str) -> Iterator:
    from clpbert.registry import open_registry

    reg = open_registry(registry_url)
    yield reg
    reg.close()


@pytest.fixture
def inproc(clpbert_home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    """inproc(*args, fake_nvml=None) -> CompletedProcess: `clpbert ARGS` in this process, through the
    console script's entry point and error edge, without an interpreter start per call."""
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
