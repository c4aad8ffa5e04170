"""Real-process fixtures for the run manager: a tiny demo dataset generated once per session, the
smallest demo-preset config that still runs the real `clpbert.train` under torchrun, and a
teardown that kills whatever a failing test left running."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.tiny_configs import TINY_MANAGED_RUN

TINY = [*TINY_MANAGED_RUN, "runtime.time_limit_s=0"]
"""--set items for a demo run that takes seconds, not minutes (same code path, tiny sizes). No time
limit: the demo preset's 345 s safety net would end a run early on a heavily loaded machine."""


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from clpbert.data.demo import generate_demo_dataset

    return generate_demo_dataset(tmp_path_factory.mktemp("demo") / "demo", n_train=24, n_val=8, seed=0,
                                 workers=0)


@pytest.fixture
def runs_home(clpbert_home: Path, demo_data: Path) -> Iterator[Path]:
    """CLPBERT_HOME with the tiny demo dataset registered as `demo`; kills leftover runs after."""
    from clpbert import paths
    from clpbert.registry import open_registry
    from clpbert.runs.service import register_dataset_dir

    paths.datasets_dir().mkdir(parents=True, exist_ok=True)
    paths.dataset_dir("demo").symlink_to(demo_data, target_is_directory=True)
    with open_registry() as reg:
        register_dataset_dir(reg, "demo", paths.dataset_dir("demo"))
    yield clpbert_home
    kill_leftovers()


def kill_leftovers() -> None:
    from clpbert.registry import open_registry
    from clpbert.runs import procs
    from clpbert.runs.service import ACTIVE

    with open_registry() as reg:
        for run in reg.list_runs(state=list(ACTIVE)):
            if run.supervisor_pid:
                procs.kill_tree(run.supervisor_pid)


def tree(pid: int) -> list[psutil.Process]:
    """A process and all its descendants (collected while they run)."""
    from clpbert.runs import procs

    return [psutil.Process(pid), *procs.descendants(pid)]


def alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    out = []
    for p in processes:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


def wait_until(predicate, timeout: float, what: str, poll: float = 0.25):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(poll)


@pytest.fixture
def rt():
    """Helpers for process tests (conftest functions cannot be imported in importlib mode)."""
    import types

    return types.SimpleNamespace(TINY=TINY, tree=tree, alive=alive, wait_until=wait_until)
