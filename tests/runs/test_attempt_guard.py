"""Never two trainers of one run (issue 17, defect 1): reconcile and `runs resume` return only
once every process of the previous attempt is gone (SIGTERM, a grace, then SIGKILL), and the GPUs
are released only then. The "old trainers" here are real processes with the run's environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from clpbert.registry import open_registry
from clpbert.runs import procs
from clpbert.runs.reconcile import reconcile

SLOW_CHECKPOINT = """
import signal, sys, time
out = sys.argv[1]
def on_term(signum, frame):
    time.sleep(2)  # a slow checkpoint write
    open(out, "w").write("checkpointed")
    sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
open(out + ".ready", "w").write("1")
while True:
    time.sleep(0.1)
"""

IGNORES_TERM = """
import signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
open(sys.argv[1] + ".ready", "w").write("1")
while True:
    time.sleep(0.1)
"""


@pytest.fixture
def reg(clpbert_home: Path):
    with open_registry() as r:
        yield r


def _old_trainer(code: str, run_id: str, marker: Path) -> subprocess.Popen:
    env = {**os.environ, "CLPBERT_RUN_ID": run_id, "CLPBERT_ATTEMPT": "1"}
    proc = subprocess.Popen([sys.executable, "-c", code, str(marker)], env=env, start_new_session=True)
    ready = Path(str(marker) + ".ready")
    for _ in range(600):
        if ready.exists():
            return proc
        psutil.Process(proc.pid).wait(0.1) if proc.poll() is not None else __import__("time").sleep(0.1)
    raise AssertionError("the fake trainer did not start")


def _lost_candidate(reg, tmp_path: Path, record: bool = True):
    """A `running` run whose supervisor is dead, on GPU 0; returns (run id, run dir)."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    ctime = psutil.Process(dead.pid).create_time()
    dead.wait()
    run = reg.create_run("finetune", "demo", run_dir=tmp_path / "run")
    (tmp_path / "run").mkdir()
    reg.set_run_state(run.id, "running")
    reg.update_run(run.id, supervisor_pid=dead.pid, supervisor_create_time=ctime)
    reg.reserve_gpus(run.id, [0])
    return run.id, tmp_path / "run"


def _cleanup(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_reconcile_waits_for_the_old_trainer_then_releases_the_gpus(reg, tmp_path: Path):
    run_id, run_dir = _lost_candidate(reg, tmp_path)
    marker = tmp_path / "ckpt"
    old = _old_trainer(SLOW_CHECKPOINT, run_id, marker)
    try:
        procs.write_processes(run_dir, trainer=procs.ProcessId.of(old.pid))
        assert reconcile(reg) == [run_id]
        assert old.poll() is not None  # gone when reconcile returned, after its checkpoint
        assert marker.read_text() == "checkpointed"
        assert reg.reserved_gpus() == []
        run = reg.get_run(run_id)
        assert run.state == "lost" and f"pid {old.pid}" in run.reason
    finally:
        _cleanup(old)


def test_a_trainer_ignoring_sigterm_is_killed_after_the_grace(reg, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CLPBERT_ATTEMPT_GRACE_S", "1")
    run_id, run_dir = _lost_candidate(reg, tmp_path)
    old = _old_trainer(IGNORES_TERM, run_id, tmp_path / "x")
    try:
        procs.write_processes(run_dir, trainer=procs.ProcessId.of(old.pid))
        assert reconcile(reg) == [run_id]
        assert old.poll() is not None  # gone (psutil reaped it, so Popen cannot see the signal)
        assert reg.reserved_gpus() == []
    finally:
        _cleanup(old)


def test_an_unrecorded_worker_is_found_by_its_run_environment(reg, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch):
    # torchrun starts workers in their own sessions; one that outlived torchrun is nobody's child
    monkeypatch.setenv("CLPBERT_ATTEMPT_GRACE_S", "1")
    run_id, _ = _lost_candidate(reg, tmp_path)
    worker = _old_trainer(IGNORES_TERM, run_id, tmp_path / "w")
    other = _old_trainer(IGNORES_TERM, "someother", tmp_path / "o")
    try:
        assert reconcile(reg) == [run_id]
        assert worker.poll() is not None
        assert other.poll() is None  # another run's process is left alone
    finally:
        _cleanup(worker)
        _cleanup(other)


def test_resume_starts_only_after_the_old_trainer_is_gone(reg, tmp_path: Path):
    from clpbert.runs.service import resume_run

    run = reg.create_run("finetune", "demo", run_dir=tmp_path / "run")
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "checkpoints" / "step_0000010.pt").write_bytes(b"x")
    (run_dir / "checkpoints" / "latest.json").write_text(json.dumps({"step": 10, "path": "step_0000010.pt"}))
    reg.set_run_state(run.id, "lost", reason="its supervisor disappeared")
    marker = tmp_path / "ckpt"
    old = _old_trainer(SLOW_CHECKPOINT, run.id, marker)
    resumed = None
    try:
        procs.write_processes(run_dir, trainer=procs.ProcessId.of(old.pid))
        resumed = resume_run(reg, run.id)
        assert old.poll() is not None and marker.read_text() == "checkpointed"
        assert resumed.state.value == "queued"
    finally:
        _cleanup(old)
        fresh = reg.get_run(run.id)
        if fresh.supervisor_pid:
            procs.kill_tree(fresh.supervisor_pid)
