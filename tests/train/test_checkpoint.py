"""Checkpoint files: atomic writes, the latest pointer, keep-last-N, best, RNG state, kill -9."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from clpbert.train import checkpoint as ckpt


def _state(value: float) -> dict:
    return {"model": {"w": torch.full((4,), value)}, "epoch": 0, "data_pos": [], "config": {"a": 1}}


def test_save_writes_step_file_and_pointer(tmp_path: Path):
    path = ckpt.save_checkpoint(tmp_path, 10, _state(1.0))
    assert path == tmp_path / "checkpoints" / "step_0000010.pt"
    assert json.loads((tmp_path / "checkpoints" / "latest.json").read_text()) == {"step": 10,
                                                                                  "path": "step_0000010.pt"}
    loaded_path, state = ckpt.load_latest(tmp_path)
    assert loaded_path == path and state["step"] == 10
    assert torch.equal(state["model"]["w"], torch.ones(4))
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp files left


def test_prune_keeps_last_n_and_best(tmp_path: Path):
    for step in (1, 2, 3, 4):
        p = ckpt.save_checkpoint(tmp_path, step, _state(float(step)))
        if step == 2:
            ckpt.mark_best(tmp_path, p)
        ckpt.prune(tmp_path, keep_last=2)
    assert [s for s, _ in ckpt.list_step_checkpoints(tmp_path)] == [3, 4]
    best = ckpt.load_file(tmp_path / "checkpoints" / "best.pt")
    assert best["step"] == 2  # the hard link outlives the pruned step file


def test_load_latest_falls_back_when_pointer_target_is_torn(tmp_path: Path):
    ckpt.save_checkpoint(tmp_path, 1, _state(1.0))
    p2 = ckpt.save_checkpoint(tmp_path, 2, _state(2.0))
    p2.write_bytes(b"torn")
    path, state = ckpt.load_latest(tmp_path)
    assert state["step"] == 1 and path.name == "step_0000001.pt"


def test_rng_state_round_trip():
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    state = ckpt.rng_state()
    expected = (random.random(), float(np.random.rand()), float(torch.rand(1)))
    ckpt.set_rng_state(state)
    assert (random.random(), float(np.random.rand()), float(torch.rand(1))) == expected


WRITER = """
import os, sys, torch
from clpbert.train import checkpoint as ckpt
run = sys.argv[1]
ckpt.save_checkpoint(run, 1, {"model": {"w": torch.ones(1000)}})
os.environ["CLPBERT_TEST_CKPT_SLEEP"] = "60"  # hold the next save between write and rename
ckpt.save_checkpoint(run, 2, {"model": {"w": torch.full((1000,), 2.0)}})
print("second", flush=True)
"""


def test_kill_during_save_keeps_previous_checkpoint(tmp_path: Path):
    """A real process is SIGKILLed while it writes step 2 (the test hook holds it between the write
    and the rename): latest.json still names step 1, which loads; no partial step_2 file exists."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLPBERT_TEST_")}
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], env=env)
    try:
        deadline = time.time() + 120
        ckdir = tmp_path / "checkpoints"
        while time.time() < deadline:
            if (ckdir / "step_0000001.pt").exists() and any(p.name.startswith(".step_0000002")
                                                            for p in ckdir.iterdir()):
                break
            time.sleep(0.2)
        else:
            pytest.fail("the writer never reached the second save")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    path, state = ckpt.load_latest(tmp_path)
    assert path.name == "step_0000001.pt"
    assert torch.equal(state["model"]["w"], torch.ones(1000))
    assert not (ckdir / "step_0000002.pt").exists()
