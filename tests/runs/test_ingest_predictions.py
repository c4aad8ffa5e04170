"""Eval events that name a predictions file index it in the registry (eval id -> file, rows)."""

from __future__ import annotations

import json
from pathlib import Path

from clpbert.predictions import schema, store
from clpbert.runs.ingest import Ingestor


def _append(path: Path, *events: dict) -> None:
    with path.open("a") as f:
        for ev in events:
            f.write(json.dumps(ev) + "\n")


def _file(run_dir: Path, step: int) -> str:
    rows = [schema.record(example_id=i, type="color", answer="red", pred="red", correct=True)
            for i in range(3)]
    return str(store.write_predictions(run_dir, step, "val", schema.QA, rows, task="demo"))


def test_eval_predictions_are_indexed_and_forgotten_when_retention_deletes_the_file(registry, tmp_path: Path):
    run = registry.create_run("finetune", "demo", run_dir=tmp_path)
    ev = tmp_path / "events.jsonl"
    first, second = _file(tmp_path, 10), _file(tmp_path, 20)
    _append(ev, {"event": "eval", "time": 1.0, "step": 10, "split": "val", "metrics": {"acc": 1.0},
                 "predictions": {"path": first, "kind": "qa", "rows": 3}},
            {"event": "eval", "time": 2.0, "step": 20, "split": "val", "metrics": {"acc": 1.0},
             "predictions": {"path": second, "kind": "qa", "rows": 3}},
            {"event": "eval", "time": 3.0, "step": 20, "split": "test", "metrics": {"acc": 0.5}})
    Ingestor(registry, run.id, tmp_path).poll()
    evals = registry.list_evals(run.id)
    index = registry.list_eval_predictions(run.id)
    assert sorted(index) == sorted(e.id for e in evals if e.split == "val")  # the test eval saved none
    by_step = {e.step: index[e.id] for e in evals if e.id in index}
    assert (by_step[10].path, by_step[10].rows, by_step[10].kind) == (first, 3, "qa")
    assert by_step[20].path == second and (tmp_path / second).is_file()
    # keep_last pruned step 10's file: the next ingested event drops its row, the eval row stays
    (tmp_path / first).unlink()
    _append(ev, {"event": "train", "time": 4.0, "step": 21, "metrics": {"loss": 1.0}},
            {"event": "eval", "time": 5.0, "step": 30, "split": "val", "metrics": {"acc": 1.0}})
    Ingestor(registry, run.id, tmp_path).poll()
    assert [p.path for p in registry.list_eval_predictions(run.id).values()] == [second]
    assert len(registry.list_evals(run.id)) == 4
    registry.delete_run(run.id)  # cascades
    assert registry.list_eval_predictions(run.id) == {}
