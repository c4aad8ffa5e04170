"""Read commands reconcile exactly when reconcile has something to write, and never otherwise."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from clpbert.registry.reader import RegistryReader
from clpbert.runs.read_gate import open_for_reading, reconcile_needed

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def reg(clpbert_home: Path):
    """A registry whose hourly retention pass has just run (so it is not due)."""
    from clpbert.registry import open_registry
    from clpbert.runs.reconcile import reconcile

    reg = open_registry()
    reconcile(reg)
    yield reg
    reg.close()


def _running(reg, *, pid: int, create_time: float, host: str | None = None):
    run = reg.create_run("finetune", "demo", host=host)
    reg.update_run(run.id, supervisor_pid=pid, supervisor_create_time=create_time)
    reg.set_run_state(run.id, "running")
    return run


def test_idle_registry_is_read_without_reconciling(reg):
    reg.create_run("finetune", "demo", state="finished")
    alive = psutil.Process()
    _running(reg, pid=alive.pid, create_time=alive.create_time())  # its supervisor is alive
    _running(reg, pid=1, create_time=1.0, host="another-host")  # not judged from here
    with open_for_reading() as reader:
        assert isinstance(reader, RegistryReader)
        assert not reconcile_needed(reader)


def test_a_run_whose_supervisor_died_is_marked_lost_by_a_read(reg):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    create_time = psutil.Process(dead.pid).create_time()
    dead.wait()
    run = _running(reg, pid=dead.pid, create_time=create_time, host=socket.gethostname())
    with open_for_reading(reconciled=False) as reader:
        assert reconcile_needed(reader)
    with open_for_reading() as reader:
        got = reader.get_run(run.id)
    assert got.state == "lost" and "supervisor" in (got.reason or "")


def test_an_active_slurm_run_or_a_due_retention_pass_needs_reconcile(reg):
    with open_for_reading(reconciled=False) as reader:
        assert not reconcile_needed(reader)
    slurm = reg.create_run("finetune", "demo", host="slurm:123")
    with open_for_reading(reconciled=False) as reader:
        assert reconcile_needed(reader)
    reg.set_run_state(slurm.id, "finished")
    with open_for_reading(reconciled=False) as reader:
        assert not reconcile_needed(reader)
        from sqlalchemy import text

        with reg._engine.begin() as conn:
            conn.execute(text("UPDATE maintenance SET next_at = :t"), {"t": time.time() - 1})
        assert reconcile_needed(reader)


def test_runs_list_marks_a_lost_run_end_to_end(reg, clpbert_home: Path):
    run = _running(reg, pid=os.getpid(), create_time=1.0, host=socket.gethostname())  # pid reused: gone
    env = {**os.environ, "CLPBERT_HOME": str(clpbert_home)}
    env.pop("CLPBERT_DB_URL", None)
    proc = subprocess.run([sys.executable, "-m", "cli.app", "runs", "list", "--json"], capture_output=True,
                          text=True, env=env, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert {r["id"]: r["state"] for r in json.loads(proc.stdout)} == {run.id: "lost"}
