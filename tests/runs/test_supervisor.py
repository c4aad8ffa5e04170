"""The supervisor with real processes: the real `clpbert.train` under torchrun on CPU (gloo)."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from clpbert.registry import open_registry
from clpbert.runs import procs
from clpbert.runs.service import LaunchRequest, kill_run, launch_run, resume_run, stop_run

pytestmark = pytest.mark.slow


def _launch(reg, rt, *extra: str, gpus: str | None = None, steps: int = 1000):
    return launch_run(reg, LaunchRequest(kind="finetune", task="demo", dataset="demo", gpus=gpus,
                                         sets=[*rt.TINY, f"optim.max_steps={steps}", *extra]))


def _training(reg, rt, run_id: str, min_step: int = 1, timeout: float = 240):
    return rt.wait_until(lambda: (r := reg.get_run(run_id)).state == "running" and r.step >= min_step and r,
                         timeout, f"run {run_id} to reach step {min_step}")


def _start_step(run_dir: Path, attempt: int) -> int:
    starts = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()
              if '"start"' in line]
    return next(e["step"] for e in starts if e["attempt"] == attempt)


def test_stop_checkpoints_then_resume_continues_then_kill(runs_home: Path, rt) -> None:
    with open_registry() as reg:
        run = _launch(reg, rt)
        assert run.state in ("queued", "starting")
        _training(reg, rt, run.id, min_step=2)
        processes = rt.tree(run.supervisor_pid)
        assert len(processes) >= 3  # supervisor, torchrun, worker

        stopped = stop_run(reg, run.id, grace_s=120)
        assert stopped.state == "killed"
        assert stopped.reason.startswith("stopped by user at step") and "checkpoint written" in stopped.reason
        rt.wait_until(lambda: not rt.alive(processes), 15, "every process of the run to exit")
        run_dir = Path(stopped.run_dir)
        saved = json.loads((run_dir / "checkpoints" / "latest.json").read_text())["step"]
        assert saved == stopped.step >= 2
        assert [a.state for a in reg.list_attempts(run.id)] == ["killed"]
        assert reg.reserved_gpus() == []

        resumed = resume_run(reg, run.id)
        assert resumed.id == run.id and resumed.state == "queued"
        _training(reg, rt, run.id, min_step=saved + 1)
        assert _start_step(run_dir, 2) == saved  # the trainer continued from the checkpoint
        processes = rt.tree(reg.get_run(run.id).supervisor_pid)
        killed = kill_run(reg, run.id)
        assert (killed.state, killed.reason) == ("killed", "killed by user (SIGKILL)")
        rt.wait_until(lambda: not rt.alive(processes), 15, "every process of the run to exit")
        attempts = reg.list_attempts(run.id)
        assert [(a.number, a.state) for a in attempts] == [(1, "killed"), (2, "killed")]
        assert attempts[1].resumed_from.endswith(f"step_{saved:07d}.pt")
        assert reg.metric_names(run.id)[:2] == ["train/grad_norm", "train/loss"]


def test_kill_9_of_supervisor_or_trainer_never_leaves_a_run_running(runs_home: Path, rt) -> None:
    with open_registry() as reg:
        a = _launch(reg, rt)
        b = _launch(reg, rt)
        _training(reg, rt, a.id)
        _training(reg, rt, b.id)
        tree_a, tree_b = rt.tree(a.supervisor_pid), rt.tree(b.supervisor_pid)

        os.kill(a.supervisor_pid, signal.SIGKILL)  # the supervisor dies: reconcile says lost
        trainer_b = procs.recorded(Path(b.run_dir), "trainer")
        os.kill(trainer_b.pid, signal.SIGKILL)  # torchrun dies: the supervisor says failed

        from clpbert.runs.service import follow_run

        lost = follow_run(reg, a.id, timeout_s=60)
        assert lost.state == "lost"
        assert f"supervisor (pid {a.supervisor_pid}) disappeared" in lost.reason
        failed = follow_run(reg, b.id, timeout_s=60)
        assert (failed.state, failed.signal) == ("failed", 9)
        assert failed.reason.startswith("trainer (torchrun) was killed by SIGKILL")
        # the lost run's trainer got SIGTERM (parent-death signal) and the failed run's workers were
        # reaped by their supervisor: nothing of either run survives
        rt.wait_until(lambda: not rt.alive(tree_a + tree_b), 90, "the runs' processes to exit")
        assert reg.list_attempts(a.id)[-1].state == "lost"
        assert reg.list_attempts(b.id)[-1].state == "failed"


def test_supervisor_compacts_its_runs_old_gpu_samples_once_it_ended(runs_home: Path, rt, monkeypatch) -> None:
    import time

    from clpbert.gpu.fake import fake_uuid

    monkeypatch.setenv("CLPBERT_FAKE_NVML", "2-gpus-idle")
    with open_registry() as reg:
        blocker = reg.create_run("finetune", "demo", state="running")
        reg.reserve_gpus(blocker.id, [(0, fake_uuid(0))])  # keeps the run below queued: no trainer
        run = _launch(reg, rt, "runtime.device=cpu", gpus="0")
        rt.wait_until(lambda: "reserved by run" in (reg.get_run(run.id).reason or ""), 60, "the run to queue")
        old = (int(time.time() - 3 * 86400) // 60) * 60.0  # a bucket edge three days ago
        reg.add_gpu_samples([{"run_id": run.id, "gpu_uuid": fake_uuid(0), "gpu_index": 0,
                              "time": old + k * 60 + i, "util": float(i)}
                             for k in range(2) for i in range(10)])

        assert stop_run(reg, run.id, grace_s=10).state == "killed"
        rt.wait_until(lambda: len(reg.gpu_series(fake_uuid(0), run_id=run.id)) == 2, 60,
                      "the supervisor to compact the run's samples into one row per minute")
        assert [s.util for s in reg.gpu_series(fake_uuid(0), run_id=run.id)] == [4.5, 4.5]


def test_a_running_supervisor_runs_the_due_retention_pass_without_waiting_for_its_run(
        runs_home: Path, rt) -> None:
    import time

    from clpbert.gpu.fake import fake_uuid

    with open_registry() as reg:
        ended = reg.create_run("finetune", "demo", state="finished")
        old = (int(time.time() - 3 * 86400) // 60) * 60.0  # a bucket edge three days ago
        reg.add_gpu_samples([{"run_id": ended.id, "gpu_uuid": fake_uuid(0), "gpu_index": 0,
                              "time": old + k * 60 + i, "util": float(i)}
                             for k in range(2) for i in range(10)])
        run = _launch(reg, rt, steps=100_000)
        rt.wait_until(lambda: len(reg.gpu_series(fake_uuid(0), run_id=ended.id)) == 2, 120,
                      "the training run's supervisor to compact the ended run's samples")
        assert reg.get_run(run.id).state in ("starting", "running")  # not the exit hook: it still trains
        assert [s.util for s in reg.gpu_series(fake_uuid(0), run_id=ended.id)] == [4.5, 4.5]
        assert stop_run(reg, run.id, grace_s=10).state in ("finished", "killed", "stopped")
