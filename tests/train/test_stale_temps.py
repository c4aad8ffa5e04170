"""Temp files of an interrupted checkpoint write do not stay forever (issue 17, defect 9): the
next trainer start and every keep-last pruning remove those whose writer is gone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from clpbert.train import checkpoint as ckpt
from clpbert.train.events import read_events


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_prune_removes_only_temp_files_whose_writer_is_gone(tmp_path: Path):
    import torch

    ckpt.save_checkpoint(tmp_path, 1, {"model": {"w": torch.ones(2)}})
    ckdir = tmp_path / ckpt.CKPT_DIR
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead = [ckdir / f".step_0000002.pt.tmp{_dead_pid()}", ckdir / f".latest.json.tmp{_dead_pid()}",
                ckdir / f".best.pt.tmp{_dead_pid()}"]
        alive = [ckdir / f".step_0000003.pt.tmp{sleeper.pid}", ckdir / f".step_0000004.pt.tmp{os.getpid()}"]
        for p in dead + alive:
            p.write_bytes(b"x" * 1000)
        ckpt.prune(tmp_path, keep_last=2)
        assert not any(p.exists() for p in dead)
        assert all(p.exists() for p in alive)  # a writer still at work keeps its file
        assert ckpt.load_latest(tmp_path)[1]["step"] == 1
    finally:
        sleeper.kill()
        sleeper.wait()


@pytest.mark.slow
def test_resume_after_a_kill_mid_checkpoint_removes_the_temp_file(tiny_demo: Path, tmp_path: Path,
                                                                 make_config, trainer):
    from tests.train.conftest import REPO

    cfg = make_config(tmp_path / "run", tiny_demo, "optim.max_steps=3", "eval.valid_steps=100",
                      "runtime.checkpoint_every=1")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLPBERT_TEST_")}
    env.update(OMP_NUM_THREADS="1", CLPBERT_TEST_CKPT_SLEEP="60")  # each save waits before its rename
    proc = subprocess.Popen([sys.executable, "-m", "clpbert.train", "--config", str(cfg)], env=env, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckdir = cfg.parent / ckpt.CKPT_DIR
    try:
        deadline = time.time() + 300
        sizes: list[int] = []
        while time.time() < deadline:
            temps = [p for p in ckdir.iterdir() if ckpt.TEMP_RE.match(p.name)] if ckdir.is_dir() else []
            sizes.append(temps[0].stat().st_size if temps else 0)
            if sizes[-1] > 0 and sizes[-3:] == [sizes[-1]] * 3:  # written, fsynced, waiting to be renamed
                break
            time.sleep(0.3)
        else:
            pytest.fail("the trainer never reached its first checkpoint write")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    left = [p for p in ckdir.iterdir() if ckpt.TEMP_RE.match(p.name)]
    assert left and left[0].stat().st_size > 0  # the kill left a checkpoint-sized temp file
    done = trainer(cfg)
    assert done.returncode == 0, done.stderr[-3000:]
    assert read_events(cfg.parent)[-1]["status"] == "finished"
    assert not [p for p in ckdir.iterdir() if ckpt.TEMP_RE.match(p.name)]
