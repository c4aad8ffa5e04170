"""The launcher writes resolved paths into config.yaml, so the trainer and `clpbert predict` never open
the registry to resolve a dataset or weights name (clpbert/runs/pinned_paths.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.runs.conftest import TINY


def _launch(**kw):
    from clpbert.registry import open_registry
    from clpbert.runs.service import LaunchRequest, launch_run

    with open_registry() as reg:
        req = LaunchRequest(kind="finetune", task="demo", dataset="demo", gpus="cpu",
                            sets=[*TINY, "optim.max_steps=2", "eval.num_valid=1"], **kw)
        return launch_run(reg, req, start=False)


def _train_without_registry(run_dir: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """The trainer alone, with CLPBERT_DB_URL naming a registry that cannot be opened (its folder
    is a file): any registry lookup would crash it."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    env = {**os.environ, "CLPBERT_DB_URL": f"sqlite:///{blocker}/registry.db", "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "clpbert.train", "--config", str(run_dir / "config.yaml")],
                          cwd=run_dir, env=env, capture_output=True, text=True, timeout=900)


def _finish(run_dir: Path) -> dict:
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines() if line]
    return [e for e in events if e.get("event") == "finish"][-1]


def test_launched_config_carries_absolute_paths_and_trains_with_the_registry_unreachable(runs_home, tmp_path,
                                                                                         monkeypatch):
    from clpbert.config import load_config
    from clpbert.registry import open_registry

    first = _launch()
    cfg = load_config(Path(first.run_dir) / "config.yaml")
    with open_registry() as reg:
        ds = reg.get_dataset("demo")
    assert cfg.data.dataset == "demo"  # the name stays for people
    assert cfg.data.txt_db == ds.txt_db and cfg.data.vis_db == ds.vis_db
    assert cfg.data.tokenizer == ds.tokenizer
    for p in (cfg.data.txt_db, cfg.data.vis_db, cfg.data.tokenizer):
        assert Path(p).is_absolute() and Path(p).exists()
    assert first.config["data"]["txt_db"] == ds.txt_db  # the registry's copy says the same

    res = _train_without_registry(Path(first.run_dir), tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    assert _finish(Path(first.run_dir))["status"] == "finished"

    # --init RUN: the run dir is pinned; the trainer picks its best checkpoint itself
    second = _launch(init=first.id)
    cfg2 = load_config(Path(second.run_dir) / "config.yaml")
    assert cfg2.runtime.init_checkpoint == first.id
    assert cfg2.runtime.init_checkpoint_path == str(Path(first.run_dir).absolute())
    res = _train_without_registry(Path(second.run_dir), tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "checkpoints/best.pt" in res.stdout
    assert _finish(Path(second.run_dir))["status"] == "finished"

    # `clpbert predict --ckpt RUN_DIR` reads the same paths, with the registry unreachable too
    from clpbert.predict import resolve_source

    with monkeypatch.context() as m:
        m.setenv("CLPBERT_DB_URL", f"sqlite:///{tmp_path / 'not-a-dir'}/registry.db")
        source = resolve_source(second.run_dir)
    assert source.run_id is None and source.tokenizer_dir == cfg2.data.tokenizer
    assert source.label_names  # the QA answer names


def test_pinned_weights_paths_are_absolute_files_and_names_stay(runs_home, tmp_path, monkeypatch):
    from clpbert.config import preset
    from clpbert.registry import open_registry
    from clpbert.runs.pinned_paths import pin_init_paths

    weights = tmp_path / "w.pt"
    weights.write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    cfg = preset("pretrain")
    cfg.runtime.init_cnn, cfg.runtime.init_bert = "w.pt", "grid"
    with open_registry() as reg:
        reg.add_checkpoint(weights, name="grid", kind="pretrained")
        pin_init_paths(reg, cfg)
    assert cfg.runtime.init_cnn == "w.pt" and cfg.runtime.init_cnn_path == str(weights)
    assert cfg.runtime.init_bert_path == str(weights)
    assert cfg.runtime.init_checkpoint_path == ""
