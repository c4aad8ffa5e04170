"""Real trained models for the predict tests: a small demo dataset, a demo QA run and a tiny retrieval run.

The QA run goes through `python -m clpbert.train` on freshly generated synthetic videos (real mp4s,
real LMDB, real tokenizer) with `--set`-style overrides that keep it to a few CPU steps; tests
compare predictions with what the run's own evaluation reported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
COLORS = ("red", "green", "blue", "yellow", "white", "purple")


def _train(run_dir: Path, cfg) -> dict:
    """Run the real trainer on cfg; return the last eval event's metrics."""
    from clpbert.config import save_config

    save_config(cfg, run_dir / "config.yaml")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "clpbert.train", "--config", str(run_dir / "config.yaml"),
                           "--no-resume"], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    evals = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()
             if '"eval"' in line]
    assert evals, "the run reported no evaluation"
    return evals[-1]["metrics"]


def _small(cfg, data_dir: Path, steps: int) -> None:
    from clpbert.config import preset

    demo = preset("demo")
    cfg.model = demo.model
    d = cfg.data
    d.dataset, d.txt_db, d.vis_db = "", str(data_dir / "txt_db"), str(data_dir / "vis_db")
    d.tokenizer = str(data_dir / "tokenizer")
    d.max_img_size, d.fps, d.num_frm, d.train_n_clips, d.inference_n_clips = 128, 2.0, 1, 1, 1
    d.max_txt_len, d.num_workers, d.pin_memory, d.batch_size = 16, 0, False, 8
    cfg.optim = demo.optim
    cfg.optim.max_steps, cfg.optim.lr, cfg.optim.cnn_lr, cfg.optim.warmup_ratio = steps, 3e-3, 3e-3, 0.0
    cfg.optim.lr_schedule = cfg.optim.cnn_lr_schedule = "constant"
    cfg.eval.valid_steps, cfg.eval.keep_last = 10_000, 1  # evaluate once, at the end
    cfg.runtime.device, cfg.runtime.channels_last, cfg.runtime.log_every = "cpu", False, 5
    cfg.runtime.num_threads = 1  # on a shared 2-core box one thread is several times faster


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory) -> Path:
    from clpbert.data.demo import generate_demo_dataset

    return generate_demo_dataset(tmp_path_factory.mktemp("data") / "demo", n_train=48, n_val=16, seed=0,
                                 workers=0)


@pytest.fixture(scope="session")
def qa_run(demo_data, tmp_path_factory) -> tuple[Path, dict]:
    """(run dir, its final eval metrics) of a demo-task run: 20 steps on 48 videos."""
    from clpbert.config import preset

    cfg = preset("demo")
    _small(cfg, demo_data, steps=16)
    cfg.data.max_n_example_per_group = 4
    run = tmp_path_factory.mktemp("runs") / "qa"
    return run, _train(run, cfg)


def _colour_videos(demo_data: Path) -> list[tuple[Path, str]]:
    """(mp4 path, colour word) of every demo video."""
    out = []
    for split in ("train", "val"):
        for line in (demo_data / "txt_db" / f"{split}.jsonl").read_text().splitlines():
            r = json.loads(line)
            if r["answer_type"] == "color":
                out.append((demo_data / "videos" / f"{r['video_id']}.mp4", r["answer"]))
    return out


@pytest.fixture(scope="session")
def ret_ckpt(demo_data, tmp_path_factory) -> Path:
    """A msrvtt_ret-task checkpoint (demo sizes, seeded initial weights) in the trainer's layout.

    Saved as {"model", "config", "task", "step"} under RUN/checkpoints/ like a real run's file, so
    the config travels inside it. Its scores are not trained to mean anything: tests use it for
    exactness (cached path == full forward) and the retrieval plumbing, not for semantics.
    """
    import torch

    from clpbert.config import preset
    from clpbert.model import build_model

    cfg = preset("msrvtt_ret")
    _small(cfg, demo_data, steps=1)
    torch.manual_seed(0)
    model = build_model(cfg.model, cfg.task).eval()
    run = tmp_path_factory.mktemp("runs") / "ret"
    (run / "checkpoints").mkdir(parents=True)
    path = run / "checkpoints" / "step_0000001.pt"
    torch.save({"model": model.state_dict(), "config": cfg.to_dict(), "task": cfg.task.name, "step": 1}, path)
    return path


def render(seed: int, index: int, out_dir: Path, name: str | None = None) -> tuple[Path, list[dict]]:
    """One fresh demo video (same generator as the dataset, another seed) and its QA records."""
    from clpbert.data.demo import DEFAULT_TYPES, make_video

    vid, mp4, _, _, records = make_video((seed, "val", index, 128, 2.0, 4, 8, DEFAULT_TYPES))
    path = out_dir / f"{name or vid}.mp4"
    path.write_bytes(mp4)
    return path, records


@pytest.fixture(scope="session")
def helpers():
    """The module-level helpers, for test files (importlib import mode cannot import conftest)."""
    import types

    return types.SimpleNamespace(COLORS=COLORS, REPO=REPO, render=render)
