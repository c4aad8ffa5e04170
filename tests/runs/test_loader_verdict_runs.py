"""The loader-bound verdict on real CPU runs: two runs of the same config through `clpbert run`, one
made loader-bound on purpose by a slow decode (every video load sleeps first), and `runs show` names
only that one loader-bound. The slow decode is the real trainer with `load_frames` slowed, started
through the launcher's trainer-module hook (CLPBERT_TRAINER_MODULE), so launcher, supervisor,
torchrun, step timing and ingestion are the real ones.

Measured on 2 busy cores: the normal run's last logged window waits 4-5 % of its step time for data
(threshold 20 %), the slow one 58 %.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SLOW_DECODE_S = 0.1
"""Per video: 4 videos a step make 0.4 s of data wait against about 0.2 s of compute."""
SLOW_TRAINER = f'''"""clpbert.train with every video load {SLOW_DECODE_S} s slower (loader-bound)."""
import runpy
import time

import clpbert.data.datasets as datasets

_load_frames = datasets.load_frames


def slow_load_frames(*args, **kwargs):
    time.sleep({SLOW_DECODE_S})
    return _load_frames(*args, **kwargs)


datasets.load_frames = slow_load_frames
runpy.run_module("clpbert.train", run_name="__main__", alter_sys=True)
'''
# compute well above the demo's decode cost, so the normal run waits little for data
HEAVIER = ["model.hidden_size=128", "model.num_layers=2", "model.intermediate_size=256", "model.cnn_width=16",
           "data.max_img_size=128", "data.num_workers=0", "optim.max_steps=8", "eval.valid_steps=8",
           "runtime.log_every=4"]


def _cli(home: Path, *argv: str, env: dict[str, str] | None = None) -> str:
    env = {**os.environ, "CLPBERT_HOME": str(home), "OMP_NUM_THREADS": "1", **(env or {})}
    proc = subprocess.run([sys.executable, "-m", "cli.app", *argv], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_runs_show_names_the_slow_decode_run_loader_bound_and_not_the_normal_one(runs_home: Path,
                                                                                 tmp_path: Path, rt,
                                                                                 margin) -> None:
    from clpbert.registry import open_registry

    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "slow_decode_trainer.py").write_text(SLOW_TRAINER)
    slow_env = {"CLPBERT_TRAINER_MODULE": "slow_decode_trainer",
                "PYTHONPATH": os.pathsep.join(p for p in (str(hook), os.environ.get("PYTHONPATH")) if p)}
    sets = [f"--set={s}" for s in [*rt.TINY, *HEAVIER]]
    run = ["run", "finetune", "--task", "demo", "--dataset", "demo", *sets, "--json"]
    normal = json.loads(_cli(runs_home, *run, "--name", "normal"))["id"]
    slow = json.loads(_cli(runs_home, *run, "--name", "slow-decode", env=slow_env))["id"]
    with open_registry() as reg:
        for run_id in (normal, slow):
            final = rt.wait_until(lambda r=run_id: (x := reg.get_run(r)).state.terminal and x, 600,
                                  f"run {run_id} to end")
            assert final.state == "finished", (final.state, final.reason)
        fracs = {r: reg.latest_metrics(r)["train/time/data_frac"].value for r in (normal, slow)}
    margin("normal run's data wait fraction (below)", fracs[normal], 0.2)
    margin("slow-decode run's data wait fraction (above)", fracs[slow], 0.2)

    shown = {r: _cli(runs_home, "runs", "show", r) for r in (normal, slow)}
    assert "loader-bound:" in shown[slow] and "pack with --frames-fps" in shown[slow], (fracs, shown[slow])
    assert "loader-bound" not in shown[normal], (fracs, shown[normal])
    assert "step time" in shown[normal] and "data wait" in shown[normal]
