"""Every run that ends normally evaluates at its last step and keeps a best.pt (issue 17, defect 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from clpbert.train import checkpoint as ckpt
from clpbert.train.events import read_events

pytestmark = pytest.mark.slow


def _finished(proc, run_dir: Path) -> list[dict]:
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    events = read_events(run_dir)
    assert events[-1]["event"] == "finish" and events[-1]["status"] == "finished"
    return events


def test_last_step_on_a_checkpoint_boundary_is_still_evaluated(tiny_demo: Path, tmp_path: Path, make_config,
                                                              trainer):
    # the last step (4) is a multiple of checkpoint_every: the periodic save used to stand in for the
    # end-of-training evaluation, so the run ended with no evaluation and no best.pt
    cfg = make_config(tmp_path / "run", tiny_demo, "optim.max_steps=4", "eval.valid_steps=100",
                      "runtime.checkpoint_every=2")
    events = _finished(trainer(cfg), cfg.parent)
    assert [e["step"] for e in events if e["event"] == "eval"] == [4]
    assert (cfg.parent / ckpt.CKPT_DIR / ckpt.BEST).is_file()
    best = ckpt.load_file(cfg.parent / ckpt.CKPT_DIR / ckpt.BEST)
    assert best["step"] == 4 and best["metric"] is not None
    assert any(e["event"] == "checkpoint" and e["best"] and e["step"] == 4 for e in events)


def test_time_limit_right_after_a_save_still_evaluates(tiny_demo: Path, tmp_path: Path, make_config, trainer):
    cfg = make_config(tmp_path / "run", tiny_demo, "optim.max_steps=50", "eval.valid_steps=100",
                      "runtime.checkpoint_every=1", "runtime.time_limit_s=0.001")
    events = _finished(trainer(cfg), cfg.parent)
    step = events[-1]["step"]
    assert step < 50
    assert [e["step"] for e in events if e["event"] == "eval"] == [step]
    assert (cfg.parent / ckpt.CKPT_DIR / ckpt.BEST).is_file()


def test_eval_at_end_false_skips_the_final_evaluation(tiny_demo: Path, tmp_path: Path, make_config, trainer):
    cfg = make_config(tmp_path / "run", tiny_demo, "optim.max_steps=2", "eval.valid_steps=100",
                      "eval.eval_at_end=false")
    events = _finished(trainer(cfg), cfg.parent)
    assert not [e for e in events if e["event"] == "eval"]
    assert ckpt.load_latest(cfg.parent)[1]["step"] == 2
