"""events.jsonl → registry rows, incrementally and in batches.

The supervisor is the only writer of a run's rows. Each `poll()` reads the complete lines added
since the last poll (a torn last line waits for its newline) and writes them in a few
transactions, whatever the number of events:

    train       one Metric row per metric name, prefixed `train/` (train/loss, train/lr, ...)
    eval        an Eval row, plus Metric rows `<split>/<name>` (val/acc, ...) for plots, and its
                saved predictions file (eval id -> path, kind, rows) when the event names one;
                files that eval.keep_last retention deleted lose their row
    checkpoint  a Checkpoint row `<run id>-step<N>` (and `<run id>-best` for the best), rows
                whose file the trainer's keep-last-N already deleted are dropped
    start       total_steps; the run becomes `running`
    job         a multi-node job's links: job_id, node_rank, job_nodes (clpbert.runs.job_link)
    all         the run's step, latest loss and best metric

The byte offset reached is kept in RUN_DIR/ingest.offset after each batch, so a resumed run (a
new supervisor) continues where the last one stopped instead of duplicating rows. The registry
can be rebuilt from the run dir by ingesting from offset 0.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clpbert.errors import NotFoundError, UserError
from clpbert.fileio import atomic_write_text
from clpbert.runs.job_link import run_fields_of_event
from clpbert.runs.run_dir import BEST, EVENTS_FILE, OFFSET_FILE

if TYPE_CHECKING:
    from clpbert.registry import Registry

MAX_BATCH_BYTES = 8 * 1024 * 1024
HIGHER_IS_BETTER_HINTS = ("loss", "err", "ppl")
"""Metric names containing these are minimised when tracking the best value; others maximised."""


class EventTail:
    """Reads complete JSON lines appended to a file since the last read."""

    def __init__(self, path: Path, offset: int = 0):
        self.path = path
        self.offset = offset
        self.bad_lines = 0

    def read(self, max_bytes: int = MAX_BATCH_BYTES) -> list[dict[str, Any]]:
        try:
            with self.path.open("rb") as f:
                f.seek(self.offset)
                chunk = f.read(max_bytes)
        except FileNotFoundError:
            return []
        end = chunk.rfind(b"\n")
        if end < 0:
            return []
        self.offset += end + 1
        events = []
        for line in chunk[:end].splitlines():
            if not line.strip():
                continue
            try:
                ev = json.loads(line)
            except ValueError:
                self.bad_lines += 1
                continue
            if isinstance(ev, dict) and "event" in ev:
                events.append(ev)
        return events


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _better(name: str, new: float, old: float | None) -> bool:
    if old is None or (isinstance(old, float) and math.isnan(old)):
        return True
    lower = any(h in name.lower() for h in HIGHER_IS_BETTER_HINTS)
    return new < old if lower else new > old


@dataclass
class IngestSummary:
    """What the supervisor needs from the events it has seen (cumulative)."""

    events: int = 0
    started: bool = False
    attempt: int | None = None
    total_steps: int | None = None
    step: int = 0
    finish: dict[str, Any] | None = None
    """The last `finish` event of the current attempt (status, reason, step)."""
    last_eval: dict[str, Any] | None = None
    checkpoints: list[str] = field(default_factory=list)


class Ingestor:
    """Tails one run's events.jsonl into the registry."""

    def __init__(self, reg: Registry, run_id: str, run_dir: str | Path, *, offset: int | None = None,
                 metric: str | None = None, kind: str = "finetune"):
        self.reg = reg
        self.run_id = run_id
        self.run_dir = Path(run_dir)
        self.tail = EventTail(self.run_dir / EVENTS_FILE, self.saved_offset() if offset is None else offset)
        self.metric = metric
        """The selection metric (config eval.metric) tracked as the run's best."""
        self.kind = kind
        self.summary = IngestSummary()
        run = reg.get_run(run_id)
        self._best_name = run.best_metric_name
        self._best_value = run.best_metric_value

    # -------------------------------------------------------------- offset

    def saved_offset(self) -> int:
        try:
            return int((self.run_dir / OFFSET_FILE).read_text().strip() or 0)
        except (OSError, ValueError):
            return 0

    def _save_offset(self) -> None:
        atomic_write_text(self.run_dir / OFFSET_FILE, str(self.tail.offset))

    def skip_to_end(self) -> None:
        """Start after everything already in the file (events ingested by an earlier supervisor)."""
        try:
            self.tail.offset = (self.run_dir / EVENTS_FILE).stat().st_size
        except FileNotFoundError:
            self.tail.offset = 0

    # -------------------------------------------------------------- polling

    def poll(self) -> list[dict[str, Any]]:
        """Ingest every complete new event; returns them (empty when nothing is new)."""
        events = self.tail.read()
        if not events:
            return []
        metrics: list[tuple[int, str, float | None, float]] = []
        evals: list[dict[str, Any]] = []
        ckpts: list[dict[str, Any]] = []
        progress: dict[str, Any] = {}
        s = self.summary
        for ev in events:
            kind = ev.get("event")
            step = int(ev.get("step") or 0)
            t = float(ev.get("time") or time.time())
            s.step = max(s.step, step)
            if kind == "start":
                s.started = True
                s.finish = None
                s.attempt = ev.get("attempt")
                if ev.get("total_steps"):
                    s.total_steps = int(ev["total_steps"])
                    progress["total_steps"] = s.total_steps
            elif kind == "train":
                for name, value in (ev.get("metrics") or {}).items():
                    v = _number(value) if value is not None else math.nan
                    if v is not None:
                        metrics.append((step, f"train/{name}", v, t))
                loss = _number((ev.get("metrics") or {}).get("loss"))
                if loss is not None:
                    progress["latest_loss"] = loss
            elif kind == "eval":
                split = str(ev.get("split") or "val")
                values = ev.get("metrics") or {}
                evals.append({"step": step, "split": split, "metrics": values, "time": t,
                              "predictions": ev.get("predictions")})
                for name, value in values.items():
                    v = _number(value)
                    if v is not None:
                        metrics.append((step, f"{split}/{name}", v, t))
                self._track_best(values, progress)
                s.last_eval = {"step": step, "split": split, "metrics": values}
            elif kind == "checkpoint":
                ckpts.append(ev)
                m = ev.get("metric") or {}
                if ev.get("best") and _number(m.get("value")) is not None:
                    self._best_name, self._best_value = str(m.get("name")), float(m["value"])
                    progress["best_metric_name"] = self._best_name
                    progress["best_metric_value"] = self._best_value
            elif kind == "finish":
                s.finish = ev
            elif kind == "job":
                progress.update(run_fields_of_event(ev))
        s.events += len(events)
        self._write(metrics, evals, ckpts, progress)
        self._save_offset()
        return events

    def drain(self, deadline: float | None = None) -> bool:
        """Poll until nothing complete is left (True), or stop after the batch that passes
        `deadline` (time.monotonic; False: more may be waiting, the saved offset resumes there)."""
        while self.poll():
            if deadline is not None and time.monotonic() > deadline:
                return False
        return True

    def _track_best(self, values: dict[str, Any], progress: dict[str, Any]) -> None:
        name = self.metric or self._best_name
        if not name or name not in values:
            return
        v = _number(values[name])
        if v is not None and (self._best_name != name or _better(name, v, self._best_value)):
            self._best_name, self._best_value = name, v
            progress["best_metric_name"], progress["best_metric_value"] = name, v

    def _write(self, metrics: list[Any], evals: list[dict[str, Any]], ckpts: list[dict[str, Any]],
               progress: dict[str, Any]) -> None:
        reg = self.reg
        try:
            if metrics:
                reg.add_metrics(self.run_id, metrics)
            for e in evals:
                row = reg.add_eval(self.run_id, e["step"], e["split"], e["metrics"], time=e["time"])
                preds = e["predictions"]
                if isinstance(preds, dict) and preds.get("path"):
                    reg.add_eval_predictions(row.id, str(preds["path"]), kind=str(preds.get("kind") or ""),
                                             rows=int(preds.get("rows") or 0), now=e["time"])
            if ckpts:
                self._register_checkpoints(ckpts)
            if evals or ckpts:
                self._forget_deleted_predictions()
            progress["step"] = self.summary.step
            reg.update_run(self.run_id, **progress)
        except NotFoundError:
            # the run was removed (`clpbert runs rm --force`) while it ran: nothing to record into
            return

    def _forget_deleted_predictions(self) -> None:
        gone = [eid for eid, p in self.reg.list_eval_predictions(self.run_id).items()
                if not (self.run_dir / p.path).exists()]
        self.reg.remove_eval_predictions(gone)

    def _register_checkpoints(self, ckpts: list[dict[str, Any]]) -> None:
        kind = "pretrained" if self.kind == "pretrain" else "finetuned"
        for ev in ckpts:
            path = Path(str(ev.get("path") or ""))
            path = path if path.is_absolute() else self.run_dir / path
            step = int(ev.get("step") or 0)
            try:
                ck = self.reg.add_checkpoint(path, name=f"{self.run_id}-step{step}", kind=kind,
                                             source=f"run {self.run_id}", run_id=self.run_id, step=step,
                                             replace=True, size=path.stat().st_size if path.exists() else 0)
                self.summary.checkpoints.append(ck.name)
                best = path.parent / BEST
                if ev.get("best") and best.exists():
                    self.reg.add_checkpoint(best, name=f"{self.run_id}-best", kind=kind,
                                            source=f"run {self.run_id} step {step}", run_id=self.run_id,
                                            step=step, replace=True, notes="best by the selection metric")
            except UserError:
                continue
        for ck in self.reg.list_checkpoints(run_id=self.run_id):
            if not Path(ck.path).exists():
                self.reg.remove_checkpoint(ck.id)
