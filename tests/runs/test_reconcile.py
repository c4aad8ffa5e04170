from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from clpbert.registry import open_registry
from clpbert.runs.reconcile import reconcile


@pytest.fixture
def reg(clpbert_home: Path):
    with open_registry() as r:
        yield r


def _dead_pid() -> tuple[int, float]:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    ctime = psutil.Process(p.pid).create_time()
    p.wait()
    return p.pid, ctime


def test_runs_whose_supervisor_is_gone_become_lost(reg, tmp_path: Path) -> None:
    me = psutil.Process(os.getpid())
    dead_pid, dead_ctime = _dead_pid()

    def run(name: str, state: str, pid: int | None, ctime: float | None, host: str | None = None):
        r = reg.create_run("finetune", "demo", name=name, run_dir=tmp_path / name, host=host)
        reg.set_run_state(r.id, state)
        reg.update_run(r.id, supervisor_pid=pid, supervisor_create_time=ctime)
        return r.id

    dead = run("dead", "running", dead_pid, dead_ctime)
    reused = run("reused", "stopping", os.getpid(), me.create_time() - 100)  # pid reused by another process
    alive = run("alive", "running", os.getpid(), me.create_time())
    elsewhere = run("elsewhere", "running", dead_pid, dead_ctime, host=socket.gethostname() + "-other")
    never = run("never", "queued", None, None)
    reg.update_run(never, created=0.0)
    fresh = run("fresh", "queued", None, None)
    reg.reserve_gpus(dead, [0])

    assert sorted(reconcile(reg)) == sorted([dead, reused, never])
    d = reg.get_run(dead)
    assert d.state == "lost" and f"pid {dead_pid}" in d.reason and d.ended is not None
    assert "never started" in reg.get_run(never).reason
    assert reg.reserved_gpus() == []
    for rid in (alive, elsewhere, fresh):
        assert reg.get_run(rid).state != "lost"
    assert reconcile(reg) == []


def test_reconcile_runs_the_gpu_sample_retention_pass_at_most_hourly(reg) -> None:
    """Every CLI/TUI start reconciles; that is also where the time-boxed retention pass runs."""
    import time

    old = (int(time.time() - 3 * 86400) // 60) * 60.0  # a bucket edge three days ago

    def ended_run_with_old_samples(uuid: str) -> str:
        rid = reg.create_run("finetune", "demo").id
        reg.set_run_state(rid, "finished", now=old + 3600)
        reg.add_gpu_samples([{"run_id": rid, "gpu_uuid": uuid, "time": old + i, "util": 1.0}
                             for i in range(30)])
        return rid

    ended_run_with_old_samples("GPU-0")
    reconcile(reg)
    assert len(reg.gpu_series("GPU-0")) == 1  # 30 readings of one minute: one row
    ended_run_with_old_samples("GPU-1")
    reconcile(reg)
    assert len(reg.gpu_series("GPU-1")) == 30  # the next pass is an hour away
