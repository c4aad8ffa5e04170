"""Slurm runs (no local supervisor) follow their events.jsonl: state, metrics, evals and checkpoints
reach the registry through reconcile, once each, and a job that vanished becomes `lost`."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import pytest

from clpbert.errors import UserError
from clpbert.registry import open_registry
from clpbert.runs.launch import SlurmOptions
from clpbert.runs.reconcile import reconcile
from clpbert.runs.service import LaunchRequest, launch_run, resume_run
from clpbert.runs.slurm_sync import LOCK_FILE, parse_squeue, sync_slurm_run
from clpbert.train.events import EventWriter

REPO = Path(__file__).resolve().parents[2]


def _slurm_run(reg, rt, *, submitted_as: str | None = None, steps: int = 3):
    """A run as `clpbert run ... --slurm` registers it (script written, nothing started here)."""
    req = LaunchRequest("finetune", "demo", dataset="demo", sets=[*rt.TINY, f"optim.max_steps={steps}"],
                        slurm=SlurmOptions(nnodes=1))
    run = launch_run(reg, req)
    if submitted_as:
        reg.update_run(run.id, host=f"slurm:{submitted_as}")
    return reg.get_run(run.id)


@pytest.mark.slow
def test_a_slurm_runs_trainer_events_reach_the_registry_once(runs_home, rt) -> None:
    with open_registry() as reg:
        run = _slurm_run(reg, rt, steps=4)
        assert (run.state, run.host) == ("queued", "slurm")
        assert reconcile(reg) == [] and reg.get_run(run.id).state == "queued"  # no events yet
        run_dir = Path(run.run_dir)
        # What srun starts on the node: the trainer on the run's config, in the shared run dir.
        with (run_dir / "logs" / "train.log").open("w") as log:
            cmd = [sys.executable, "-m", "clpbert.train", "--config", str(run_dir / "config.yaml")]
            proc = subprocess.run(cmd, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=log,
                                  stderr=subprocess.STDOUT, timeout=300)
        assert proc.returncode == 0, (run_dir / "logs" / "train.log").read_text()[-2000:]
        assert reconcile(reg) == []
        done = reg.get_run(run.id)
        assert done.state == "finished", done.reason
        assert done.step == 4 and done.started is not None and done.ended is not None
        assert reg.metric_series(run.id, "train/loss").steps == [1, 2, 3, 4]
        evals = reg.list_evals(run.id)
        assert evals and "acc" in evals[-1].metrics
        assert f"{run.id}-step4" in {ck.name for ck in reg.list_checkpoints(run_id=run.id)}
        reconcile(reg)  # a final run is not read again; nothing is written twice
        assert reg.metric_series(run.id, "train/loss").steps == [1, 2, 3, 4]
        assert len(reg.list_evals(run.id)) == len(evals)


def test_state_follows_the_events_and_a_locked_run_is_left_to_its_reader(runs_home, rt) -> None:
    with open_registry() as reg:
        run = _slurm_run(reg, rt, submitted_as="4711")
        run_dir = Path(run.run_dir)
        events = EventWriter(run_dir)
        events.start(0, world_size=16, total_steps=3, task="demo", attempt=1)
        events.train(1, 0, {"loss": 2.5, "lr": 1e-4})

        # Another process is ingesting this run right now: this one writes nothing.
        fd = os.open(run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            assert sync_slurm_run(reg, reg.get_run(run.id), listed_by=lambda job: True) is None
            assert reg.metric_series(run.id, "train/loss").steps == []
            assert reg.get_run(run.id).state == "queued"
        finally:
            os.close(fd)

        assert sync_slurm_run(reg, reg.get_run(run.id), listed_by=lambda job: True) == "running"
        r = reg.get_run(run.id)
        assert (r.state, r.step, r.total_steps, r.latest_loss) == ("running", 1, 3, 2.5)
        assert "4711" in (r.reason or "")
        assert sync_slurm_run(reg, r, listed_by=lambda job: True) is None  # nothing new

        events.train(2, 0, {"loss": 2.0, "lr": 1e-4})
        events.finish(2, "stopped", "SIGTERM")  # scancel: the trainer checkpoints and stops
        events.close()
        seen: list[str] = []
        assert sync_slurm_run(reg, reg.get_run(run.id), listed_by=lambda job: seen.append(job)) == "killed"
        r = reg.get_run(run.id)
        assert seen == ["4711"] and r.step == 2 and "SIGTERM" in r.reason and "scancel" in r.reason
        assert reg.metric_series(run.id, "train/loss").values == [2.5, 2.0]
        # no local supervisor may take over a Slurm run (it would ingest the same events twice)
        with pytest.raises(UserError, match="ran under Slurm and cannot be resumed from here"):
            resume_run(reg, run.id)


def test_a_job_that_ended_without_a_finish_event_becomes_lost(runs_home, rt) -> None:
    with open_registry() as reg:
        run = _slurm_run(reg, rt, submitted_as="4712")
        EventWriter(run.run_dir).start(0, world_size=1, total_steps=3, task="demo", attempt=1)
        assert sync_slurm_run(reg, reg.get_run(run.id), listed_by=lambda job: True) == "running"
        assert sync_slurm_run(reg, reg.get_run(run.id), listed_by=lambda job: None) is None  # no squeue here
        assert sync_slurm_run(reg, reg.get_run(run.id), listed_by=lambda job: False) == "lost"
        r = reg.get_run(run.id)
        assert r.state == "lost" and "Slurm job 4712" in r.reason and "slurm-4712.out" in r.reason

        never = _slurm_run(reg, rt)  # a script nobody submitted: no job id to ask about, it waits
        assert sync_slurm_run(reg, never, listed_by=lambda job: False) is None
        assert reg.get_run(never.id).state == "queued"


def test_squeue_answers() -> None:
    jobs = ["81", "82", "83"]
    out = "81 RUNNING\n83_4 PENDING\n83_5 RUNNING\n"
    assert parse_squeue(0, out, "", jobs) == {"81": True, "82": False, "83": True}
    assert parse_squeue(0, "", "", ["81"]) == {"81": False}  # ended, no longer listed
    invalid = "slurm_load_jobs error: Invalid job id specified\n"
    assert parse_squeue(1, "", invalid, ["81"]) == {"81": False}
    assert parse_squeue(1, "", invalid, jobs) == dict.fromkeys(jobs)  # which one? asked again per job
    down = "slurm_load_jobs error: Unable to contact slurm controller\n"
    assert parse_squeue(1, "", down, ["81"]) == {"81": None}


def test_a_long_history_is_read_over_several_passes_and_ends_only_when_complete(runs_home, rt) -> None:
    import time

    with open_registry() as reg:
        run = _slurm_run(reg, rt, submitted_as="4713")
        events = EventWriter(run.run_dir)
        events.start(0, world_size=1, total_steps=20_000, task="demo", attempt=1)
        for step in range(1, 20_001):
            events.train(step, 0, {"loss": 1.0 / step, "lr": 1e-4, "grad_norm": 1.0})
        events.finish(20_000, "finished")
        events.close()
        passes = 0
        while reg.get_run(run.id).state != "finished":
            passes += 1
            assert passes < 1000
            sync_slurm_run(reg, reg.get_run(run.id), listed_by=lambda job: False, deadline=time.monotonic())
            if reg.get_run(run.id).state != "finished":
                assert reg.get_run(run.id).state == "running"  # never lost: its finish event is coming
        assert passes > 1  # one batch per pass with the deadline already past
        series = reg.metric_series(run.id, "train/loss")
        assert series.total_points == 20_000 and series.steps[-1] == 20_000
