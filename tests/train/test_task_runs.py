"""Every task family trains and evaluates through the real Trainer (in-process, tiny model, demo videos).

The txt_dbs are built from the tiny demo dataset's videos: captions for retrieval and pretraining,
5 options for multiple choice, so each head's data path, loss and evaluation runs for real.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clpbert.config import resolve_config, save_config
from clpbert.data.txt_db import TxtDBWriter
from clpbert.train.events import read_events
from clpbert.train.loop import Trainer
from tests.tiny_configs import TINY_TASK

pytestmark = pytest.mark.slow

TINY = [*TINY_TASK, "model.vocab_size=256", "optim.max_steps=2", "eval.valid_steps=2"]


def _captions(demo: Path, split: str) -> dict[str, str]:
    """video id -> '<count> <color>' from the demo's questions (words the demo tokenizer knows)."""
    facts: dict[str, dict[str, str]] = {}
    for line in (demo / "txt_db" / f"{split}.jsonl").read_text().splitlines():
        r = json.loads(line)
        facts.setdefault(r["video_id"], {})[r["answer_type"]] = r["answer"]
    return {v: f"{f['count']} {f['color']}" for v, f in facts.items()}


def _run(tmp_path: Path, task: str, txt_db: Path, demo: Path, *sets: str) -> list[dict]:
    cfg = resolve_config(task, sets=[f"data.txt_db={txt_db}", f"data.vis_db={demo / 'vis_db'}",
                                     f"data.tokenizer={demo / 'tokenizer'}", *TINY, *sets])
    run_dir = tmp_path / task
    save_config(cfg, run_dir / "config.yaml")
    trainer = Trainer(cfg, run_dir)
    status = trainer.run()
    trainer.events.finish(trainer.step, "finished")
    trainer.events.close()
    assert status == "finished"
    return read_events(run_dir)


def test_retrieval_trains_and_evaluates_the_full_matrix(tiny_demo: Path, tmp_path: Path):
    db = TxtDBWriter(tmp_path / "ret")
    for split in ("train", "val"):
        caps = _captions(tiny_demo, split)
        db.write_split(split, [{"caption": c, "clip_name": v} for v, c in caps.items()])
    events = _run(tmp_path, "msrvtt_ret", tmp_path / "ret", tiny_demo, "eval.eval_retrieval_batch_size=3")
    ev = [e for e in events if e["event"] == "eval"][-1]["metrics"]
    assert ev["n"] == 5
    for key in ("t2v/r1", "t2v/r5", "v2t/r1", "v2t/r10"):
        assert 0.0 <= ev[key] <= 1.0
    assert ev["t2v/r5"] == 1.0 and 1 <= ev["t2v/mdr"] <= 5  # 5 videos: every gt is within the top 5
    assert [e["step"] for e in events if e["event"] == "train"] == [1, 2]


def test_multiple_choice_tgif_and_msrvtt_mc(tiny_demo: Path, tmp_path: Path):
    db = TxtDBWriter(tmp_path / "mc")
    for split in ("train", "val"):
        caps = _captions(tiny_demo, split)
        others = list(caps.values())
        rows = []
        for i, (v, c) in enumerate(caps.items()):
            options = [o for j, o in enumerate(others) if j != i][:4]
            options.insert(i % 5, c)
            rows.append({"gif_name": v, "clip_name": v, "question": "what is shown", "options": options,
                         "answer": i % 5, "qid": i})
        db.write_split(split, rows)
    events = _run(tmp_path, "tgif_qa_action", tmp_path / "mc", tiny_demo)
    ev = [e for e in events if e["event"] == "eval"][-1]["metrics"]
    assert ev["n"] == 5 and 0 <= ev["acc"] <= 1
    events = _run(tmp_path, "msrvtt_mc", tmp_path / "mc", tiny_demo, "data.val_split=val")
    assert not [e for e in events if e["event"] == "train"]  # evaluation only
    ev = [e for e in events if e["event"] == "eval"][-1]["metrics"]
    assert ev["n"] == 5 and ev["acc"] in {0.0, 0.2, 0.4, 0.6, 0.8, 1.0}


def test_pretraining_mixes_two_sources(tiny_demo: Path, tmp_path: Path):
    for name, key in (("coco", "coco_id"), ("vg", "vg_id")):
        db = TxtDBWriter(tmp_path / name)
        for split in ("train", "val"):
            db.write_split(split, [{"caption": c, key: v} for v, c in _captions(tiny_demo, split).items()])
    cfg_sets = [f"data.txt_db={tmp_path / 'coco'},{tmp_path / 'vg'}",
                f"data.vis_db={tiny_demo / 'vis_db'},{tiny_demo / 'vis_db'}", "optim.max_steps=4",
                "eval.valid_steps=4", "model.pixel_random_sampling_size=0"]
    cfg = resolve_config("pretrain", sets=[*TINY, f"data.tokenizer={tiny_demo / 'tokenizer'}", *cfg_sets])
    save_config(cfg, tmp_path / "pt" / "config.yaml")
    trainer = Trainer(cfg, tmp_path / "pt")
    assert trainer.run() == "finished"
    trainer.events.close()
    assert {s.name for s in trainer.train_sources} == {"coco", "vg"}
    used = [s.epoch * s.order.batches_per_epoch + s.pos for s in trainer.train_sources]
    # the preset accumulates 2 micro-batches per step, both from the step's source
    assert sum(used) == 4 * cfg.optim.grad_accum == 8 and all(u % 2 == 0 for u in used)
    events = read_events(tmp_path / "pt")
    train = [e for e in events if e["event"] == "train"]
    assert {"loss/mlm", "loss/itm"} <= set(train[0]["metrics"])
    ev = [e for e in events if e["event"] == "eval"][-1]["metrics"]
    assert 0 <= ev["itm_acc"] <= 1 and 0 <= ev["mlm_acc"] <= 1
