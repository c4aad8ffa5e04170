"""A run's process-tree samples in the registry (the `process_samples` table), beside its GPU samples.

The supervisor writes one row per second (clpbert.runs.tree_sampler); the TUI's resources tab and
`runs show` read the latest rows. Retention follows the GPU samples' rule for raw rows: kept while
the run is active and for a day after it ended (`prune_ended`, called with the GPU compaction).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, select

from clpbert.registry.entities import _Entity
from clpbert.registry.models import ProcessSampleRow, RunRow

T_PROC = ProcessSampleRow.__table__
FIELDS = ("run_id", "host", "time", "processes", "cpu_pct", "rss_mib", "read_mib_s")
KEEP_AFTER_END_S = 86_400.0


@dataclass(frozen=True, slots=True)
class ProcessSample(_Entity):
    """The whole tree at one time: CPU % (100 = one core), resident MiB, MiB/s read from storage."""

    run_id: str
    host: str
    time: float
    processes: int
    cpu_pct: float | None
    rss_mib: float | None
    read_mib_s: float | None


def add(reg: Any, samples: Iterable[ProcessSample]) -> int:
    rows = [tuple(getattr(s, f) for f in FIELDS) for s in samples]
    if rows:
        with reg._write() as conn:
            reg._bulk_insert(conn, T_PROC, FIELDS, rows)
    return len(rows)


def series(reg: Any, run_id: str, *, limit: int = 120) -> list[ProcessSample]:
    """The newest `limit` samples of a run (every host), oldest first."""
    p = T_PROC.c
    q = (select(*[p[f] for f in FIELDS]).where(p.run_id == run_id).order_by(p.time.desc(), p.id.desc())
         .limit(int(limit)))
    with reg._read() as conn:
        return [ProcessSample(*r) for r in reversed(conn.execute(q).all())]


def prune_ended(reg: Any, now: float) -> int:
    """Delete the samples of runs that ended more than KEEP_AFTER_END_S ago; the rows removed."""
    runs = RunRow.__table__.c
    ended = select(runs.id).where(and_(runs.ended.is_not(None), runs.ended < now - KEEP_AFTER_END_S))
    with reg._write() as conn:
        return conn.execute(delete(T_PROC).where(T_PROC.c.run_id.in_(ended))).rowcount or 0
