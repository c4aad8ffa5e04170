"""Reconcile ingests what is left of events.jsonl when it marks a run `lost` (issue 17, defect 7):
the checkpoint the trainer wrote on SIGTERM after its supervisor died, and its last metrics, show
at once, not only after a resume."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import torch

from clpbert.registry import open_registry
from clpbert.runs.reconcile import reconcile
from clpbert.train import checkpoint as ckpt
from clpbert.train.events import EventWriter


@pytest.fixture
def reg(clpbert_home: Path):
    with open_registry() as r:
        yield r


def test_lost_run_gets_its_leftover_events(reg, tmp_path: Path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    ctime = psutil.Process(dead.pid).create_time()
    dead.wait()
    run_dir = tmp_path / "run"
    run = reg.create_run("finetune", "demo", run_dir=run_dir)
    reg.set_run_state(run.id, "running")
    reg.update_run(run.id, supervisor_pid=dead.pid, supervisor_create_time=ctime, step=5)

    # what the supervisor never read: training went on to step 15, then SIGTERM wrote a checkpoint
    events = EventWriter(run_dir)
    events.start(0, 1, 20, "demo", 1)
    events.train(15, 0, {"loss": 0.125})
    for step in (10, 15):
        path = ckpt.save_checkpoint(run_dir, step, {"model": {"w": torch.ones(2)}})
        events.checkpoint(step, f"{ckpt.CKPT_DIR}/{path.name}", False, None)
    ckpt.prune(run_dir, keep_last=1)  # step 10 pruned, as keep_last does
    events.finish(15, "stopped", "SIGTERM")
    events.close()

    assert reconcile(reg) == [run.id]
    lost = reg.get_run(run.id)
    assert lost.state == "lost" and lost.step == 15 and lost.latest_loss == pytest.approx(0.125)
    names = sorted(c.name for c in reg.list_checkpoints(run_id=run.id))
    assert names == [f"{run.id}-step15"]  # the pruned step 10 is not listed, the SIGTERM one is
    assert reconcile(reg) == []
