"""RUN_DIR/events.jsonl: the run's durable record (one method of EventWriter per event kind).

Only rank 0 writes; other ranks get a writer whose methods do nothing, so call sites need no
`if rank == 0`. Each event is one JSON line, flushed at once, so the supervisor tailing the file
sees it immediately and a crash loses at most the line being written (readers skip a partial
last line).

Finish statuses: `finished` (normal end, also after runtime.time_limit_s), `failed` (an exception;
reason = its one-line text) and `stopped` (SIGTERM/SIGINT: the trainer stopped at a step boundary
and wrote a checkpoint first; reason = the signal name).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from clpbert.json_safe import json_safe
from clpbert.runs.run_dir import EVENTS_FILE

EVENTS_PER_NODE_ENV = "CLPBERT_EVENTS_PER_NODE"
"""Set to 1 by a node's supervisor when the job spans nodes that are each their own run (`--nnodes N
--node-rank R`): then every node's local rank 0 writes events.jsonl in its run dir, not only global
rank 0 (whose node alone would otherwise see progress and a finish event)."""



def previous_attempts(run_dir: str | os.PathLike[str]) -> int:
    """How many `start` events the file already holds (a resume is a new attempt)."""
    path = Path(run_dir) / EVENTS_FILE
    if not path.exists():
        return 0
    count = 0
    with path.open() as f:
        for line in f:
            if '"start"' in line:
                try:
                    count += json.loads(line).get("event") == "start"
                except json.JSONDecodeError:
                    continue
    return count


class EventWriter:
    """Appends events to RUN_DIR/events.jsonl (enabled on rank 0 only)."""

    def __init__(self, run_dir: str | os.PathLike[str], enabled: bool = True):
        self.path = Path(run_dir) / EVENTS_FILE
        self.enabled = enabled
        self._file = None
        if enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")

    def write(self, event: str, **fields: Any) -> None:
        if self._file is None:
            return
        record = {"event": event, "time": time.time(), **fields}
        # strict JSON: NaN/inf as null
        self._file.write(json.dumps(json_safe(record), separators=(",", ":")) + "\n")
        self._file.flush()

    def start(self, step: int, world_size: int, total_steps: int, task: str, attempt: int) -> None:
        self.write("start", step=step, world_size=world_size, total_steps=total_steps, task=task,
                   attempt=attempt)

    def job(self, job_id: str, node_rank: int, nodes: list[dict[str, Any]]) -> None:
        """A multi-node job's links (clpbert.runs.job_link): the job id, this node and every node's run."""
        self.write("job", job_id=job_id, node_rank=node_rank, nodes=nodes)

    def train(self, step: int, epoch: int, metrics: dict[str, float]) -> None:
        self.write("train", step=step, epoch=epoch, metrics=metrics)

    def eval(self, step: int, split: str, metrics: dict[str, float],
             predictions: dict[str, Any] | None = None) -> None:
        """predictions: {"path" (relative to the run dir), "kind", "rows", "write_s"} when saved."""
        extra = {"predictions": predictions} if predictions else {}
        self.write("eval", step=step, split=split, metrics=metrics, **extra)

    def checkpoint(self, step: int, path: str, best: bool, metric: dict[str, Any] | None) -> None:
        self.write("checkpoint", step=step, path=path, best=best, metric=metric)

    def finish(self, step: int, status: str, reason: str | None = None) -> None:
        self.write("finish", step=step, status=status, reason=reason)
        if self._file is not None:
            os.fsync(self._file.fileno())

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def read_events(run_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """All complete events of a run (a torn last line is skipped)."""
    path = Path(run_dir) / EVENTS_FILE
    out = []
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return out
