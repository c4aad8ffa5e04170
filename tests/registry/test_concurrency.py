"""Several processes writing the same SQLite registry at once: no "database is locked", no lost rows.

Real processes (multiprocessing spawn), each with its own engine, like supervisors of parallel runs.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WRITERS = 4
BATCHES = 60
ROWS = 5


def _writer(url: str, run_id: str, start: mp.Event, errors: mp.Queue) -> None:
    try:
        from clpbert.registry import open_registry

        reg = open_registry(url)
        start.wait(30)
        for b in range(BATCHES):
            reg.add_metrics(run_id, [(b * ROWS + i, "loss", float(i), time.time()) for i in range(ROWS)])
            if b % 10 == 0:
                reg.add_gpu_samples([{"gpu_uuid": f"GPU-{run_id}", "time": time.time(), "run_id": run_id}])
                reg.update_run(run_id, notes=f"batch {b}")
        reg.set_run_state(run_id, "finished")
        reg.close()
    except BaseException as e:  # report to the parent: an exception in a child is otherwise silent
        errors.put(f"{run_id}: {type(e).__name__}: {e}")


def _opener(url: str, start: mp.Event, errors: mp.Queue) -> None:
    try:
        from clpbert.registry import open_registry

        start.wait(30)
        reg = open_registry(url)
        reg.create_run("eval", "t")
        reg.close()
    except BaseException as e:
        errors.put(f"{type(e).__name__}: {e}")


@pytest.mark.slow
def test_concurrent_writers_and_reader_lose_nothing(clpbert_home: Path, monkeypatch: pytest.MonkeyPatch):
    from clpbert.registry import open_registry

    monkeypatch.syspath_prepend(str(REPO))  # spawned children import this module as tests.registry...
    url = f"sqlite:///{clpbert_home / 'registry.db'}"
    reg = open_registry(url)
    run_ids = [reg.create_run("finetune", "t").id for _ in range(WRITERS)]
    ctx = mp.get_context("spawn")
    start, errors = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(url, rid, start, errors)) for rid in run_ids]
    for p in procs:
        p.start()
    start.set()
    polls = 0
    deadline = time.time() + 120
    while any(p.is_alive() for p in procs) and time.time() < deadline:
        for rid in run_ids:  # the TUI's access pattern while runs write
            reg.metrics_since(rid, 0, limit=50)
            reg.list_runs()
        polls += 1
    for p in procs:
        p.join(30)
    failures = []
    while not errors.empty():
        failures.append(errors.get())
    assert failures == []
    assert all(p.exitcode == 0 for p in procs)
    assert polls > 0
    for rid in run_ids:
        assert len(reg.metrics_since(rid)) == BATCHES * ROWS
        assert reg.latest_metrics(rid)["loss"].count == BATCHES * ROWS
        assert reg.get_run(rid).state == "finished"
    reg.close()


@pytest.mark.slow
def test_first_open_races_migrate_once(clpbert_home: Path, monkeypatch: pytest.MonkeyPatch):
    """Processes opening a brand-new registry together: one migrates, the others wait and reuse it."""
    from clpbert.registry import open_registry

    monkeypatch.syspath_prepend(str(REPO))
    url = f"sqlite:///{clpbert_home / 'fresh.db'}"
    ctx = mp.get_context("spawn")
    start, errors = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_opener, args=(url, start, errors)) for _ in range(4)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(60)
    failures = []
    while not errors.empty():
        failures.append(errors.get())
    assert failures == []
    with open_registry(url) as reg:
        assert reg.count_runs() == 4
