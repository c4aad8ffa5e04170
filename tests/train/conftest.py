"""Fixtures for the trainer tests: a tiny generated demo dataset and tiny run configs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tiny_configs import TINY_CNN, TINY_MODEL

REPO = Path(__file__).resolve().parents[2]
SEED = int(os.environ.get("CLPBERT_TEST_SEED", "0"))
"""Seed of every run these tests train; learned-behaviour margins were measured over many
(`CLPBERT_TEST_SEED=7 CLPBERT_TEST_THREADS=2 pytest tests/train/test_loop.py` re-measures one)."""
THREADS = int(os.environ.get("CLPBERT_TEST_THREADS", "1"))

TINY = [
    *TINY_MODEL, *TINY_CNN, "data.batch_size=4", "data.inference_batch_size=4",
    f"runtime.num_threads={THREADS}", f"runtime.seed={SEED}", "runtime.log_every=1", "eval.keep_last=2",
    "runtime.time_limit_s=0",  # the demo preset's 345 s safety net would cut runs short under heavy load
]


@pytest.fixture(scope="session")
def tiny_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from clpbert.data.demo import generate_demo_dataset

    return generate_demo_dataset(tmp_path_factory.mktemp("data") / "demo", n_train=16, n_val=5, seed=1,
                                 size=64, workers=0)


def write_config(run_dir: Path, dataset: Path, *sets: str) -> Path:
    from clpbert.config import resolve_config, save_config

    data = [f"data.txt_db={dataset / 'txt_db'}", f"data.vis_db={dataset / 'vis_db'}",
            f"data.tokenizer={dataset / 'tokenizer'}"]
    cfg = resolve_config("demo", sets=[*data, *TINY, *sets])
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, run_dir / "config.yaml")
    return run_dir / "config.yaml"


def run_trainer(config: Path, *args: str, nproc: int = 1, env: dict[str, str] | None = None,
                timeout: float = 300) -> subprocess.CompletedProcess:
    """The real entry point in a subprocess (torchrun for nproc > 1)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CLPBERT_TEST_")}
    full_env.update(env or {})
    full_env.setdefault("OMP_NUM_THREADS", "1")
    if nproc > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
               "-m", "clpbert.train", "--config", str(config), *args]
    else:
        cmd = [sys.executable, "-m", "clpbert.train", "--config", str(config), *args]
    return subprocess.run(cmd, env=full_env, cwd=REPO, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def make_config():
    """make_config(run_dir, dataset, *sets) -> RUN_DIR/config.yaml (demo preset, tiny sizes)."""
    return write_config


@pytest.fixture
def trainer():
    """trainer(config, *args, nproc=1, env=None) -> CompletedProcess of the real entry point."""
    return run_trainer
