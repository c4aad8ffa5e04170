"""What every query module of the registry shares: the tables, value helpers, and the Store
base (engine, read/write transactions, bulk inserts) that the aggregate mixins build on."""

from __future__ import annotations

import dataclasses
import math
import time as _time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Self

from sqlalchemy import (
    Connection,
    select,
)

from clpbert import paths
from clpbert.errors import NotFoundError, UserError
from clpbert.gpu.readings import gpu_key
from clpbert.registry import db
from clpbert.registry.entities import (
    Attempt,
    Checkpoint,
    Dataset,
    Eval,
    EvalPredictions,
    GpuReservation,
    GpuSample,
    Run,
    RunState,
)
from clpbert.registry.models import (
    AttemptRow,
    CheckpointRow,
    DatasetRow,
    EvalPredictionsRow,
    EvalRow,
    GpuReservationRow,
    GpuSampleRow,
    MetricLatestRow,
    MetricRow,
    RunRow,
)

T_DATASETS = DatasetRow.__table__
T_CKPTS = CheckpointRow.__table__
T_RUNS = RunRow.__table__
T_ATTEMPTS = AttemptRow.__table__
T_METRICS = MetricRow.__table__
T_LATEST = MetricLatestRow.__table__
T_EVALS = EvalRow.__table__
T_PREDS = EvalPredictionsRow.__table__
T_GPU = GpuSampleRow.__table__
T_RES = GpuReservationRow.__table__

RUN_FIELDS = tuple(c.name for c in T_RUNS.columns)

RUNS_HINT = "`clpbert runs list` shows run ids"

def _like_escape(text: str) -> str:
    """`text` matched literally inside a LIKE pattern (escape character backslash)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _now(value: float | None) -> float:
    return _time.time() if value is None else float(value)


def _nan_to_none(value: Any) -> float | None:
    if value is None:
        return None
    v = float(value)
    return None if v != v else v


def _none_to_nan(value: float | None) -> float:
    return math.nan if value is None else value


def _states(state: str | Iterable[str] | None) -> list[str] | None:
    if state is None:
        return None
    items = [state] if isinstance(state, str) else list(state)
    for s in items:
        _check_state(s)
    return [str(RunState(s)) for s in items]


def _check_state(state: str) -> RunState:
    try:
        return RunState(state)
    except ValueError:
        raise UserError(f"unknown run state {state!r}; one of: "
                        f"{', '.join(s.value for s in RunState)}") from None


def _gpu_entries(gpus: Iterable[Any]) -> list[dict[str, Any]]:
    """Normalise ints / (index, uuid) / {"index", "uuid"} to dicts with index, uuid and key."""
    out = []
    for g in gpus:
        if isinstance(g, Mapping):
            index, uuid = g.get("index"), g.get("uuid")
        elif isinstance(g, (tuple, list)):
            index, uuid = (g[0], g[1] if len(g) > 1 else None)
        else:
            index, uuid = g, None
        index = None if index is None else int(index)
        if uuid is None and index is None:
            raise ValueError(f"GPU entry {g!r} has neither index nor uuid")
        out.append({"index": index, "uuid": uuid, "key": gpu_key(uuid, index)})
    return out


# Rows become entities positionally (10k runs list in a fraction of the time of **row._mapping),
# so these tables' column order must equal their entity's field order; checked at import.
for _table, _entity in ((T_DATASETS, Dataset), (T_CKPTS, Checkpoint), (T_RUNS, Run), (T_ATTEMPTS, Attempt),
                        (T_EVALS, Eval), (T_RES, GpuReservation), (T_PREDS, EvalPredictions)):
    assert [c.name for c in _table.columns] == [f.name for f in dataclasses.fields(_entity)], _entity


def _dataset(row: Any) -> Dataset:
    return Dataset(*row)


def _checkpoint(row: Any) -> Checkpoint:
    return Checkpoint(*row)


def _run(row: Any) -> Run:
    """A Run from a row in column order; config is NULL in listings (see list_runs)."""
    return Run(*row[:5], row[5] or {}, RunState(row[6]), *row[7:])


def _attempt(row: Any) -> Attempt:
    return Attempt(*row)


def _eval(row: Any) -> Eval:
    return Eval(*row)


def _gpu(row: Any) -> GpuSample:
    return GpuSample(**row._mapping)


def _reservation(row: Any) -> GpuReservation:
    return GpuReservation(*row)


class Store:
    """A handle on one registry database: the connection plumbing the query mixins share."""

    def __init__(self, url: str | None = None):
        self._raw_url = url or paths.db_url()
        self._engine = db.connect(self._raw_url)
        self.url = db.safe_url(self._raw_url)
        self.backend = self._engine.dialect.name
        self.revision = db.head_revision()
        self._ingest_sql: tuple[Any, Any, Any] | None = None

    # ---------------------------------------------------------------- plumbing

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Registry({self.url!r})"

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A read-only transaction (deferred BEGIN on SQLite: never blocks writers under WAL)."""
        with self._engine.connect() as conn:
            conn = conn.execution_options(**{db.READONLY: True})
            with conn.begin():
                yield conn

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A write transaction (BEGIN IMMEDIATE on SQLite), committed on exit."""
        with self._engine.begin() as conn:
            yield conn

    def _insert(self, table: Any) -> Any:
        """A dialect-specific INSERT that supports on_conflict_do_update."""
        if self.backend == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            return pg_insert(table)
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table)

    def _bulk_insert(self, conn: Connection, table: Any, columns: Sequence[str],
                     rows: list[tuple[Any, ...]]) -> None:
        """Insert many rows through the driver: executemany on SQLite (no per-row SQLAlchemy
        parameter processing: ~2x faster than Core), COPY on PostgreSQL (psycopg's executemany
        is ~10x slower than COPY). Values must already be plain Python scalars."""
        if self.backend == "postgresql":
            cursor = conn.connection.driver_connection.cursor()  # same DBAPI connection: same transaction
            with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        marks = ", ".join("?" * len(columns))
        conn.exec_driver_sql(f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})", rows)

    def _require_run(self, conn: Connection, run_id: str) -> None:
        if conn.execute(select(T_RUNS.c.id).where(T_RUNS.c.id == run_id)).first() is None:
            raise NotFoundError(f"no run {run_id!r}; {RUNS_HINT}")
