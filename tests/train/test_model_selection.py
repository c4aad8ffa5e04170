"""Model selection never on test: only the validation split is evaluated while training, best.pt is
chosen on it, and the test split is evaluated once at the end on best.pt, reported as its own split."""

from __future__ import annotations

import shutil
from pathlib import Path

from clpbert.config import load_config
from clpbert.train import checkpoint as ckpt
from clpbert.train.events import read_events
from clpbert.train.loop import Trainer


def test_best_is_chosen_on_val_and_test_runs_once_on_it(tiny_demo: Path, tmp_path: Path, make_config):
    txt = tmp_path / "txt_db"
    shutil.copytree(tiny_demo / "txt_db", txt)
    lines = (txt / "val.jsonl").read_text().splitlines()
    (txt / "test.jsonl").write_text("\n".join(lines[:4]) + "\n")
    run_dir = tmp_path / "run"
    config = make_config(run_dir, tiny_demo, f"data.txt_db={txt}", "data.test_split=test",
                         "data.num_workers=0", "optim.max_steps=4", "eval.valid_steps=2")
    trainer = Trainer(load_config(config), run_dir, resume=False)
    assert trainer.run() == "finished"
    trainer.events.close()
    events = read_events(run_dir)
    evals = [e for e in events if e["event"] == "eval"]
    assert [(e["step"], e["split"]) for e in evals] == [(2, "val"), (4, "val"), (4, "test")]
    best = [e for e in events if e["event"] == "checkpoint" and e.get("best")]
    best_state = ckpt.load_file(run_dir / ckpt.CKPT_DIR / ckpt.BEST)
    assert best and best_state["step"] == best[-1]["step"]
    val_acc = {e["step"]: e["metrics"]["acc"] for e in evals if e["split"] == "val"}
    assert val_acc[best_state["step"]] == max(val_acc.values())  # chosen on val
    test = evals[-1]["metrics"]
    assert test["selected_step"] == best_state["step"] and test["n"] == 4
