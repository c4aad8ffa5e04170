"""`clpbert demo` on a fresh CLPBERT_HOME: generate, register, train through the real launcher
(supervisor -> torchrun -> clpbert.train on CPU), report; tiny sizes so it takes seconds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tiny_configs import TINY_CLI_RUN

REPO = Path(__file__).resolve().parents[2]
TINY = TINY_CLI_RUN

pytestmark = pytest.mark.slow


def demo(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CLPBERT_HOME": str(home)}
    env.pop("CLPBERT_DB_URL", None)
    env.pop("CLPBERT_FAKE_NVML", None)
    sets = [x for s in TINY for x in ("--set", s)]
    argv = [sys.executable, "-m", "cli.app", "demo", "--train-videos", "24", "--val-videos", "8",
            *sets, *args]
    return subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REPO, timeout=400)


def test_demo_trains_through_the_launcher_and_leaves_everything_in_the_registry(clpbert_home: Path) -> None:
    res = demo(clpbert_home, "--steps", "3", "--seed", "1", "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["state"] == "finished" and out["step"] == 3 and out["total_steps"] == 3
    metrics = out["latest_eval"]["metrics"]
    per_type = {k.split("/", 1)[1] for k in metrics if k.startswith("acc/")}
    assert "acc" in metrics and len(per_type) >= 2  # 8 eval examples: not every type appears

    from clpbert.registry import open_registry

    with open_registry() as reg:
        assert reg.get_dataset("demo").splits["val"] > 0
        run = reg.get_run(out["id"])
        assert (run.task, run.dataset, run.config["runtime"]["seed"], run.config["runtime"]["device"]) == \
            ("demo", "demo", 1, "cpu")
        assert "train/loss" in reg.metric_names(run.id)
        assert any(c.step == 3 for c in reg.list_checkpoints(run_id=run.id))
        assert [(a.number, a.state, a.exit_code) for a in reg.list_attempts(run.id)] == [(1, "finished", 0)]
    log = (Path(out["run_dir"]) / "logs" / "supervisor.log").read_text()
    states = [line.split("state ", 1)[1].split(":")[0] for line in log.splitlines() if " state " in line]
    assert states == ["starting", "running", "finished"]

    shown = subprocess.run([sys.executable, "-m", "cli.app", "runs", "show", out["id"], "--json"],
                           capture_output=True, text=True, cwd=REPO, timeout=60,
                           env={**os.environ, "CLPBERT_HOME": str(clpbert_home)})
    detail = json.loads(shown.stdout)
    assert detail["state"] == "finished" and detail["latest_eval"]["metrics"]["acc"] == metrics["acc"]


def test_demo_exits_non_zero_with_the_reason_when_the_run_fails(clpbert_home: Path, tmp_path: Path) -> None:
    import torch

    # a weights file that loads (so the launch accepts it) but does not fit the model: the run fails
    bad = tmp_path / "misfit.pt"
    torch.save({"cnn.feature.backbone.stem.conv1.weight": torch.zeros(3)}, bad)
    res = demo(clpbert_home, "--steps", "3", "--quiet", "--set", f"runtime.init_checkpoint={bad}")
    assert res.returncode == 1
    assert "failed" in res.stderr and "misfit.pt" in res.stderr
