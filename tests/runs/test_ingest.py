from __future__ import annotations

import json
from pathlib import Path

import pytest

from clpbert.registry import open_registry
from clpbert.runs.ingest import EventTail, Ingestor


def _append(path: Path, *events: dict, raw: str = "") -> None:
    with path.open("a") as f:
        for ev in events:
            f.write(json.dumps(ev) + "\n")
        f.write(raw)


@pytest.fixture
def reg(clpbert_home: Path):
    with open_registry() as r:
        yield r


def test_tail_returns_only_complete_lines(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    tail = EventTail(path)
    assert tail.read() == []
    _append(path, {"event": "train", "step": 1}, raw='{"event": "train", "st')
    assert [e["step"] for e in tail.read()] == [1]
    _append(path, raw='ep": 2}\nnot json\n')
    assert [e["step"] for e in tail.read()] == [2]
    assert tail.bad_lines == 1


def test_events_become_rows_once(reg, tmp_path: Path) -> None:
    run = reg.create_run("finetune", "demo", run_dir=tmp_path)
    ev = tmp_path / "events.jsonl"
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "step_0000010.pt").write_bytes(b"w" * 10)
    (tmp_path / "checkpoints" / "best.pt").write_bytes(b"w" * 10)
    _append(ev, {"event": "start", "time": 1.0, "step": 0, "total_steps": 20, "attempt": 1},
            {"event": "train", "time": 2.0, "step": 5, "metrics": {"loss": 2.0, "lr": 1e-3, "bad": "x"}},
            {"event": "train", "time": 3.0, "step": 10, "metrics": {"loss": 1.5, "lr": 1e-3}},
            {"event": "eval", "time": 4.0, "step": 10, "split": "val",
             "metrics": {"acc": 0.5, "acc/color": 0.7}},
            {"event": "checkpoint", "time": 5.0, "step": 10, "path": "checkpoints/step_0000010.pt",
             "best": True, "metric": {"name": "acc", "value": 0.5}})
    ing = Ingestor(reg, run.id, tmp_path, metric="acc")
    assert len(ing.poll()) == 5
    assert ing.summary.started and ing.summary.finish is None
    r = reg.get_run(run.id)
    assert (r.step, r.total_steps, r.latest_loss, r.best_metric_name, r.best_metric_value) == \
        (10, 20, 1.5, "acc", 0.5)
    assert reg.metric_names(run.id) == ["train/loss", "train/lr", "val/acc", "val/acc/color"]
    assert reg.latest_eval(run.id).metrics == {"acc": 0.5, "acc/color": 0.7}
    names = sorted(c.name for c in reg.list_checkpoints(run_id=run.id))
    assert names == [f"{run.id}-best", f"{run.id}-step10"]
    # a second ingestor (a resumed supervisor) continues at the saved offset: nothing twice
    (tmp_path / "checkpoints" / "step_0000010.pt").unlink()  # keep-last-N pruned it
    (tmp_path / "checkpoints" / "step_0000020.pt").write_bytes(b"w")
    _append(ev, {"event": "train", "time": 6.0, "step": 20, "metrics": {"loss": 1.0}},
            {"event": "checkpoint", "time": 7.0, "step": 20, "path": "checkpoints/step_0000020.pt",
             "best": False},
            {"event": "finish", "time": 8.0, "step": 20, "status": "finished", "reason": None})
    again = Ingestor(reg, run.id, tmp_path, metric="acc")
    assert len(again.poll()) == 3 and again.poll() == []
    assert again.summary.finish["status"] == "finished"
    assert len(reg.metrics_since(run.id)) == 7
    names = sorted(c.name for c in reg.list_checkpoints(run_id=run.id))
    assert names == [f"{run.id}-best", f"{run.id}-step20"]
