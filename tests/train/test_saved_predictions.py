"""Every evaluation saves its predictions; the file reproduces the stored metrics exactly.

Real in-process Trainer runs (tiny model, the tiny demo dataset's real videos): QA on the demo task,
text-to-video retrieval, multiple choice and pretraining. The metrics recomputed from the Parquet
file must equal the eval event's numbers with `==`, not approximately.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clpbert.config import resolve_config, save_config
from clpbert.data.txt_db import TxtDBWriter
from clpbert.predictions import analysis, store
from clpbert.train.events import read_events
from clpbert.train.loop import Trainer
from tests.tiny_configs import TINY_TASK

pytestmark = pytest.mark.slow

TINY = TINY_TASK


def _train(run_dir: Path, task: str, *sets: str) -> list[dict]:
    cfg = resolve_config(task, sets=[*TINY, *sets])
    save_config(cfg, run_dir / "config.yaml")
    trainer = Trainer(cfg, run_dir)
    assert trainer.run() == "finished"
    trainer.events.close()
    return read_events(run_dir)


def _data(demo: Path, txt_db: Path | None = None) -> list[str]:
    return [f"data.txt_db={txt_db or demo / 'txt_db'}", f"data.vis_db={demo / 'vis_db'}",
            f"data.tokenizer={demo / 'tokenizer'}"]


def _captions(demo: Path, split: str) -> dict[str, str]:
    """video id -> '<count> <color>' (words the demo tokenizer knows)."""
    facts: dict[str, dict[str, str]] = {}
    for line in (demo / "txt_db" / f"{split}.jsonl").read_text().splitlines():
        r = json.loads(line)
        facts.setdefault(r["video_id"], {})[r["answer_type"]] = r["answer"]
    return {v: f"{f['count']} {f['color']}" for v, f in facts.items()}


def _evals(run_dir: Path, events: list[dict]) -> list[tuple[dict, Path]]:
    out = []
    for e in events:
        if e["event"] == "eval":
            out.append((e, run_dir / e["predictions"]["path"]))
    return out


def _check_reproduces(event: dict, path: Path, keys: list[str]) -> None:
    table, meta = store.read_table(path), store.read_meta(path)
    assert event["predictions"]["rows"] == table.num_rows
    again = analysis.recompute(table, meta)
    for k in keys:
        assert again[k] == event["metrics"][k], k  # exactly


def test_demo_qa_predictions_reproduce_accuracy_per_type_and_follow_keep_last(tiny_demo: Path,
                                                                              tmp_path: Path):
    run = tmp_path / "qa"
    events = _train(run, "demo", *_data(tiny_demo), "optim.max_steps=3", "eval.valid_steps=1",
                    "eval.keep_last=1")
    evals = _evals(run, events)
    assert [e["step"] for e, _ in evals] == [1, 2, 3]  # one file per eval step
    assert len({p.name for _, p in evals}) == 3
    last, path = evals[-1]
    acc_keys = [k for k in last["metrics"] if k.startswith("acc")]
    assert {"acc", "acc/color", "acc/count"} <= set(acc_keys)
    _check_reproduces(last, path, acc_keys)
    rows = store.read_rows(path)
    assert len(rows) == last["metrics"]["n"] and {r["type"] for r in rows} == {"color", "count"}
    val = [json.loads(x) for x in (tiny_demo / "txt_db" / "val.jsonl").read_text().splitlines()]
    truth = {(r["question"], r["video_id"]): r["answer"] for r in val}
    for r in rows:
        assert truth[(r["text"], r["video_key"])] == r["answer"]
        assert r["pred"] == r["candidates"][0] and len(r["candidates"]) == 5
        assert r["correct"] == (r["pred"] == r["answer"]) == (r["rank"] == 1)
        assert r["candidate_scores"] == sorted(r["candidate_scores"], reverse=True)
    # keep_last=1: the newest evaluated step's file and the best step's file stay, the rest are gone
    best = next(e for e in reversed(events) if e["event"] == "checkpoint" and e["best"])["step"]
    assert {s for s, _, _ in store.list_files(run)} == {3, best}
    assert all(p.exists() == (e["step"] in (3, best)) for e, p in evals)


def test_retrieval_predictions_recompute_recall_and_median_rank(tiny_demo: Path, tmp_path: Path):
    db = TxtDBWriter(tmp_path / "ret")
    for split in ("train", "val"):
        caps = _captions(tiny_demo, split)
        db.write_split(split, [{"caption": c, "clip_name": v} for v, c in caps.items()])
    run = tmp_path / "run"
    events = _train(run, "msrvtt_ret", *_data(tiny_demo, tmp_path / "ret"), "model.vocab_size=256",
                    "optim.max_steps=2", "eval.valid_steps=2", "eval.eval_retrieval_batch_size=3")
    event, path = _evals(run, events)[-1]
    keys = [f"{d}/{m}" for d in ("t2v", "v2t") for m in ("r1", "r5", "r10", "mdr", "mnr")]
    _check_reproduces(event, path, keys)
    rows = store.read_rows(path)
    t2v = [r for r in rows if r["type"] == "t2v"]
    v2t = [r for r in rows if r["type"] == "v2t"]
    assert len(t2v) == event["metrics"]["n"] == 5 and len(v2t) == 5
    for r in t2v:
        assert r["answer"] == r["video_key"] and len(r["candidates"]) == 5
        # the ground truth sits at its rank in the top-5 list (5 videos: always inside)
        assert r["candidates"][r["rank"] - 1] == r["answer"]


def test_multiple_choice_and_pretraining_predictions_reproduce_their_accuracy(tiny_demo: Path,
                                                                             tmp_path: Path):
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
    run = tmp_path / "mc_run"
    events = _train(run, "tgif_qa_action", *_data(tiny_demo, tmp_path / "mc"), "model.vocab_size=256",
                    "optim.max_steps=2", "eval.valid_steps=2")
    event, path = _evals(run, events)[-1]
    _check_reproduces(event, path, ["acc"])
    for r in store.read_rows(path):
        assert len(r["candidates"]) == 5 and r["answer"] == r["candidates"][int(r["example_id"]) % 5]
        assert r["correct"] == (r["rank"] == 1) and sum(r["candidate_scores"]) == pytest.approx(1, abs=1e-5)

    for name, key in (("coco", "coco_id"), ("vg", "vg_id")):
        db = TxtDBWriter(tmp_path / name)
        for split in ("train", "val"):
            db.write_split(split, [{"caption": c, key: v} for v, c in _captions(tiny_demo, split).items()])
    run = tmp_path / "pt"
    events = _train(run, "pretrain", f"data.tokenizer={tiny_demo / 'tokenizer'}", "model.vocab_size=256",
                    f"data.txt_db={tmp_path / 'coco'},{tmp_path / 'vg'}",
                    f"data.vis_db={tiny_demo / 'vis_db'},{tiny_demo / 'vis_db'}", "optim.max_steps=2",
                    "eval.valid_steps=2", "model.pixel_random_sampling_size=0")
    event, path = _evals(run, events)[-1]
    _check_reproduces(event, path, ["itm_acc", "mlm_acc"])
    types = {r["type"] for r in store.read_rows(path)}
    assert types <= {"itm", "mlm"} and "itm" in types
