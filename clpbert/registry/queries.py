"""The registry service layer: the only way the CLI, TUI, supervisor and downloader touch the DB.

    from clpbert.registry import open_registry
    with open_registry() as reg:             # url=None: $CLPBERT_DB_URL or sqlite:///<home>/registry.db
        run = reg.create_run("finetune", "msrvtt_qa", dataset="msrvtt", config=cfg.to_dict())
        reg.add_metrics(run.id, [(10, "loss", 2.3, time.time())])

Open one Registry per process (after any fork) and share it between threads; it is thread-safe.
Every method returns frozen dataclasses from `entities.py` (never ORM rows) and commits before it
returns. Times are float epoch seconds; `now` defaults to time.time(). Unknown names raise
`NotFoundError` (a UserError) whose message says how to list valid ones; bad values raise
`UserError`; programming mistakes (unknown field names) raise TypeError/ValueError.

Datasets (name is unique)
    add_dataset(name, *, format="", task="", txt_db="", vis_db="", tokenizer="", splits=None,
                fingerprint="") -> Dataset            upsert by name (keeps id and created)
    get_dataset(name) -> Dataset                      NotFoundError if absent
    list_datasets(task=None) -> list[Dataset]         by name
    remove_dataset(name) -> Dataset                   the removed row (files are not touched)

Checkpoints (name is unique; `ref` = name, numeric id, or file path)
    add_checkpoint(path, *, name=None, kind="finetuned", source="", sha256="", size=None,
                   run_id=None, step=None, notes="", replace=False) -> Checkpoint
        path is stored absolute; name defaults to the file stem; size defaults to the file's size;
        kind in pretrained|e2e|cnn|bert|finetuned; an existing name is a UserError unless replace.
    get_checkpoint(ref) -> Checkpoint
    list_checkpoints(kind=None, run_id=None) -> list[Checkpoint]     newest first
    remove_checkpoint(ref) -> Checkpoint              the removed row (the file is not touched)

Runs (id = 8 hex chars; `ref` = full id, a unique id prefix, or a unique run name)
    create_run(kind, task, *, dataset="", name="", config=None, tags=(), notes="", run_dir=None,
               total_steps=None, gpus=(), nnodes=1, host=None, state="queued", run_id=None) -> Run
        run_dir defaults to paths.run_dir(id) (not created here); host to this machine's name.
    get_run(ref) -> Run                               NotFoundError / ambiguous prefix UserError
    list_runs(*, state=None, task=None, kind=None, text=None, order="-created", limit=None,
              offset=0, with_config=False) -> list[Run]
        state: one state or a list; text: case-insensitive substring of id/name/task/dataset/
        notes/tags; order: a column name, "-" prefix = descending (created, started, ended, name,
        state, task, kind, step, id, best_metric_value). Listings leave Run.config = {} unless
        with_config=True (keeps a 10k-run listing fast); get_run always fills it.
    count_runs(*, state=None, task=None, kind=None, text=None) -> int
    update_run(run_id, **fields) -> Run               any Run field but id (e.g. step=, notes=,
                                                      supervisor_pid=, best_metric_value=, gpus=)
    set_run_state(run_id, state, *, reason=None, exit_code=None, signal=None, only_from=None) -> bool
        Writes state, reason, exit_code and signal (None clears them). Entering `running` sets
        `started` (first time only); a terminal state (finished|failed|killed|lost) sets `ended`,
        any other state clears it. only_from=[states]: compare-and-set, returns False (and
        changes nothing) when the run is in another state — use it to avoid racing transitions.
    delete_run(run_id) -> Run                         cascades to attempts, metrics, evals, GPU
                                                      samples, reservations; checkpoints keep
                                                      their row with run_id = None. The run dir
                                                      on disk is not touched.

Attempts (one per start of a run's processes; a resume is a new attempt)
    start_attempt(run_id, *, resumed_from=None, now=None) -> Attempt    number = previous + 1
    end_attempt(run_id, state, *, number=None, exit_code=None, signal=None, reason=None,
                now=None) -> Attempt                  number=None: the latest attempt
    list_attempts(run_id) -> list[Attempt]            by number

Metrics (scalars; one row per (step, name) point)
    add_metrics(run_id, rows) -> int                  rows: iterable of (step, name, value, time)
        One transaction, bulk insert (Core executemany), then the latest value per name is
        upserted into metric_latest (only if its step is >= the stored one) and the run's `step`
        (max) and `latest_loss` (latest "loss") are updated. NaN is stored as NULL and read back
        as NaN. Returns the number of points inserted.
    metric_names(run_id) -> list[str]                 sorted
    latest_metrics(run_id) -> dict[str, MetricLatest]
    metric_series(run_id, name, *, max_points=None, min_step=None, max_step=None) -> MetricSeries
        max_points=None: every point. Otherwise, when there are more points, the step range is
        cut into max_points equal buckets in SQL and each bucket gives (last step, mean, min, max).
    metrics_since(run_id, after_id=0, *, names=None, limit=None) -> list[Metric]
        points with id > after_id in insertion order; keep the last id for the next poll.
    last_metric_id(run_id) -> int                     the newest point's id (0 if none): where a
                                                      viewer that loaded metric_series starts polling

Evals
    add_eval(run_id, step, split, metrics, *, time=None) -> Eval
    list_evals(run_id, split=None) -> list[Eval]      by step, then id
    latest_eval(run_id, split=None) -> Eval | None

GPU samples (any reading may be None = N/A)
    add_gpu_samples(samples) -> int                   GpuSample objects or dicts with its fields
    latest_gpu_samples(uuids=None) -> dict[str, GpuSample]    newest sample per GPU uuid
    gpu_series(uuid, *, since=None, until=None, run_id=None, limit=None) -> list[GpuSample]
    prune_gpu_samples(before) -> int                  delete samples older than `before`
    Retention (1 Hz for a day and while the run is active, then 1-minute buckets; run-less samples
    go after 30 days) lives in `retention.py`: compact_run(reg, run_id), maybe_compact(reg, ...).

GPU reservations (the scheduler's ledger; one row per (host, GPU))
    reserve_gpus(run_id, gpus, *, host=None) -> list[GpuReservation]
        gpus: ints (index), (index, uuid) pairs or {"index", "uuid"} dicts; the key is the uuid,
        else "index:<n>". All-or-nothing: raises GpusBusyError (a UserError, `.holders` maps
        key -> run id) if any is held by another run; re-reserving your own GPUs is a no-op.
    release_gpus(run_id, *, host=None) -> int         rows released
    reserved_gpus(*, host=None) -> list[GpuReservation]       host=None: every host

Other: Registry.url (password hidden), .backend ("sqlite" | "postgresql"), .revision, .close().
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import secrets
import socket
import time as _time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Integer,
    String,
    Text,
    and_,
    bindparam,
    case,
    cast,
    delete,
    func,
    insert,
    null,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError

from clpbert import paths
from clpbert.errors import NotFoundError, UserError
from clpbert.registry import db
from clpbert.registry.entities import (
    CHECKPOINT_KINDS,
    RUN_KINDS,
    TERMINAL_STATES,
    Attempt,
    Checkpoint,
    Dataset,
    Eval,
    GpuReservation,
    GpuSample,
    Metric,
    MetricLatest,
    MetricSeries,
    Run,
    RunState,
)
from clpbert.registry.models import (
    AttemptRow,
    CheckpointRow,
    DatasetRow,
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
T_GPU = GpuSampleRow.__table__
T_RES = GpuReservationRow.__table__

RUN_ORDER_KEYS = ("created", "started", "ended", "name", "state", "task", "kind", "step", "id",
                  "best_metric_value")
RUN_FIELDS = tuple(c.name for c in T_RUNS.columns)
METRIC_COLUMNS = ("run_id", "step", "name", "value", "time")
GPU_FIELDS = ("run_id", "gpu_uuid", "gpu_index", "time", "util", "mem_used", "mem_total", "power",
              "temperature")

RUNS_HINT = "`clpbert runs list` shows run ids"

EXACT_DOWNSAMPLE_LIMIT = 200_000
"""Up to this many points, downsampling aggregates every point in SQL (~0.1 s); above, it samples."""
SAMPLES_PER_BUCKET = 8

# One index seek per sample position: the first point at or after each of k equally spaced steps.
_SEEK_SQL = """
WITH RECURSIVE pos(i) AS (SELECT CAST(0 AS BIGINT) UNION ALL SELECT i + 1 FROM pos WHERE i < :k - 1)
SELECT pos.i, m.id, m.step, m.value FROM pos JOIN metrics m ON m.id = (
    SELECT id FROM metrics
    WHERE run_id = :run AND name = :name AND step >= :lo + (pos.i * :span) / :k AND step <= :hi
    ORDER BY step LIMIT 1)
"""


class GpusBusyError(UserError):
    """Some requested GPUs are reserved by other runs; `holders` maps GPU key -> run id."""

    def __init__(self, holders: Mapping[str, str]):
        self.holders = dict(holders)
        busy = ", ".join(f"{k} (run {r})" for k, r in sorted(self.holders.items()))
        super().__init__(f"GPUs already reserved: {busy}; wait for those runs or pick other --gpus")


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
        out.append({"index": index, "uuid": uuid, "key": uuid or f"index:{index}"})
    return out


# Rows become entities positionally (10k runs list in a fraction of the time of **row._mapping),
# so these tables' column order must equal their entity's field order; checked at import.
for _table, _entity in ((T_DATASETS, Dataset), (T_CKPTS, Checkpoint), (T_RUNS, Run), (T_ATTEMPTS, Attempt),
                        (T_EVALS, Eval), (T_RES, GpuReservation)):
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


class Registry:
    """A handle on one registry database. See the module docstring for every method."""

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

    def __enter__(self) -> Registry:
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

    # ---------------------------------------------------------------- datasets

    def add_dataset(self, name: str, *, format: str = "", task: str = "", txt_db: str = "",
                    vis_db: str = "", tokenizer: str = "", splits: Mapping[str, int] | None = None,
                    fingerprint: str = "") -> Dataset:
        paths.check_name(name, "dataset name")
        values = {"format": format, "task": task, "txt_db": str(txt_db), "vis_db": str(vis_db),
                  "tokenizer": str(tokenizer), "splits": dict(splits or {}), "fingerprint": fingerprint}
        with self._write() as conn:
            found = conn.execute(select(T_DATASETS.c.id).where(T_DATASETS.c.name == name)).first()
            if found is None:
                conn.execute(insert(T_DATASETS).values(name=name, created=_time.time(), **values))
            else:
                conn.execute(update(T_DATASETS).where(T_DATASETS.c.id == found[0]).values(**values))
            return _dataset(conn.execute(select(T_DATASETS).where(T_DATASETS.c.name == name)).one())

    def get_dataset(self, name: str) -> Dataset:
        with self._read() as conn:
            row = conn.execute(select(T_DATASETS).where(T_DATASETS.c.name == name)).first()
        if row is None:
            raise NotFoundError(f"no dataset {name!r}; `clpbert datasets list` shows registered datasets")
        return _dataset(row)

    def list_datasets(self, task: str | None = None) -> list[Dataset]:
        q = select(T_DATASETS).order_by(T_DATASETS.c.name)
        if task:
            q = q.where(T_DATASETS.c.task == task)
        with self._read() as conn:
            return [_dataset(r) for r in conn.execute(q)]

    def remove_dataset(self, name: str) -> Dataset:
        ds = self.get_dataset(name)
        with self._write() as conn:
            conn.execute(delete(T_DATASETS).where(T_DATASETS.c.id == ds.id))
        return ds

    # ---------------------------------------------------------------- checkpoints

    def add_checkpoint(self, path: str | os.PathLike[str], *, name: str | None = None,
                       kind: str = "finetuned", source: str = "", sha256: str = "",
                       size: int | None = None, run_id: str | None = None, step: int | None = None,
                       notes: str = "", replace: bool = False) -> Checkpoint:
        if kind not in CHECKPOINT_KINDS:
            raise UserError(f"unknown checkpoint kind {kind!r}; one of: {', '.join(CHECKPOINT_KINDS)}")
        p = Path(path).expanduser().absolute()
        name = name or p.stem
        if size is None:
            size = p.stat().st_size if p.is_file() else 0
        values = {"path": str(p), "kind": kind, "source": source, "sha256": sha256, "size": int(size),
                  "run_id": run_id, "step": step, "notes": notes, "created": _time.time()}
        with self._write() as conn:
            if run_id is not None:
                self._require_run(conn, run_id)
            found = conn.execute(select(T_CKPTS.c.id).where(T_CKPTS.c.name == name)).first()
            if found is not None and not replace:
                raise UserError(f"checkpoint name {name!r} is already registered; choose another --name "
                                f"or remove it first (`clpbert ckpts rm {name}`)")
            if found is None:
                conn.execute(insert(T_CKPTS).values(name=name, **values))
            else:
                conn.execute(update(T_CKPTS).where(T_CKPTS.c.id == found[0]).values(**values))
            return _checkpoint(conn.execute(select(T_CKPTS).where(T_CKPTS.c.name == name)).one())

    def get_checkpoint(self, ref: str | int) -> Checkpoint:
        ref_s = str(ref)
        with self._read() as conn:
            row = conn.execute(select(T_CKPTS).where(T_CKPTS.c.name == ref_s)).first()
            if row is None and ref_s.isdigit():
                row = conn.execute(select(T_CKPTS).where(T_CKPTS.c.id == int(ref_s))).first()
            if row is None:
                p = str(Path(ref_s).expanduser().absolute())
                row = conn.execute(select(T_CKPTS).where(T_CKPTS.c.path == p)
                                   .order_by(T_CKPTS.c.id.desc())).first()
        if row is None:
            raise NotFoundError(f"no checkpoint {ref_s!r}; `clpbert ckpts list` shows registered checkpoints")
        return _checkpoint(row)

    def list_checkpoints(self, kind: str | None = None, run_id: str | None = None) -> list[Checkpoint]:
        q = select(T_CKPTS).order_by(T_CKPTS.c.created.desc(), T_CKPTS.c.id.desc())
        if kind:
            q = q.where(T_CKPTS.c.kind == kind)
        if run_id:
            q = q.where(T_CKPTS.c.run_id == run_id)
        with self._read() as conn:
            return [_checkpoint(r) for r in conn.execute(q)]

    def remove_checkpoint(self, ref: str | int) -> Checkpoint:
        ck = self.get_checkpoint(ref)
        with self._write() as conn:
            conn.execute(delete(T_CKPTS).where(T_CKPTS.c.id == ck.id))
        return ck

    # ---------------------------------------------------------------- runs

    def create_run(self, kind: str, task: str, *, dataset: str = "", name: str = "",
                   config: Mapping[str, Any] | None = None, tags: Sequence[Any] = (), notes: str = "",
                   run_dir: str | os.PathLike[str] | None = None, total_steps: int | None = None,
                   gpus: Iterable[Any] = (), nnodes: int = 1, host: str | None = None,
                   state: str = "queued", run_id: str | None = None) -> Run:
        if kind not in RUN_KINDS:
            raise UserError(f"unknown run kind {kind!r}; one of: {', '.join(RUN_KINDS)}")
        _check_state(state)
        gpu_list = [{"index": g["index"], "uuid": g["uuid"]} for g in _gpu_entries(gpus)]
        for _ in range(20):
            rid = run_id or secrets.token_hex(4)
            paths.check_name(rid, "run id")
            values = {
                "id": rid, "name": name, "kind": kind, "task": task, "dataset": dataset,
                "config": dict(config or {}), "state": str(RunState(state)),
                "host": host if host is not None else socket.gethostname(), "gpus": gpu_list,
                "nnodes": int(nnodes), "created": _time.time(), "tags": list(tags), "notes": notes,
                "run_dir": str(run_dir) if run_dir is not None else str(paths.run_dir(rid)),
                "step": 0, "total_steps": total_steps,
            }
            try:
                with self._write() as conn:
                    conn.execute(insert(T_RUNS).values(**values))
            except IntegrityError:
                if run_id is not None:
                    raise UserError(f"run id {run_id!r} already exists") from None
                continue
            return self.get_run(rid)
        raise RuntimeError("could not find a free run id after 20 tries")

    def get_run(self, ref: str) -> Run:
        ref = str(ref).strip()
        with self._read() as conn:
            row = conn.execute(select(T_RUNS).where(T_RUNS.c.id == ref)).first()
            if row is None and ref:
                like = _like_escape(ref) + "%"
                rows = conn.execute(select(T_RUNS).where(T_RUNS.c.id.like(like, escape="\\")).limit(2)).all()
                if not rows:
                    rows = conn.execute(select(T_RUNS).where(T_RUNS.c.name == ref).limit(2)).all()
                if len(rows) > 1:
                    raise UserError(f"run {ref!r} is ambiguous (matches {rows[0].id}, {rows[1].id}, ...); "
                                    "give more characters of the id")
                row = rows[0] if rows else None
        if row is None:
            raise NotFoundError(f"no run {ref!r}; {RUNS_HINT}")
        return _run(row)

    def _run_filters(self, state: Any, task: str | None, kind: str | None, text: str | None,
                     tag: str | None = None) -> list[Any]:
        where = []
        states = _states(state)
        if states:
            where.append(T_RUNS.c.state.in_(states))
        if task:
            where.append(T_RUNS.c.task == task)
        if kind:
            where.append(T_RUNS.c.kind == kind)
        if text:
            pat = f"%{_like_escape(text.lower())}%"  # `%` and `_` in a search are plain characters
            cols = [T_RUNS.c.id, T_RUNS.c.name, T_RUNS.c.task, T_RUNS.c.dataset, T_RUNS.c.notes,
                    cast(T_RUNS.c.tags, String)]
            where.append(or_(*[func.lower(c).like(pat, escape="\\") for c in cols]))
        if tag:
            # tags are a JSON list of strings: the tag as a whole JSON string, whichever way the
            # backend prints non-ASCII (SQLite keeps json.dumps' escapes, PostgreSQL may not)
            text_tags = cast(T_RUNS.c.tags, String)
            forms = dict.fromkeys((json.dumps(str(tag)), json.dumps(str(tag), ensure_ascii=False)))
            where.append(or_(*[text_tags.like("%" + _like_escape(f) + "%", escape="\\") for f in forms]))
        return where

    def list_runs(self, *, state: str | Iterable[str] | None = None, task: str | None = None,
                  kind: str | None = None, text: str | None = None, order: str = "-created",
                  limit: int | None = None, offset: int = 0, with_config: bool = False,
                  tag: str | None = None) -> list[Run]:
        key = order.lstrip("-+")
        if key not in RUN_ORDER_KEYS:
            raise UserError(f"cannot order runs by {order!r}; use one of: {', '.join(RUN_ORDER_KEYS)} "
                            "(prefix '-' for descending)")
        col = T_RUNS.c[key]
        # gpus/tags come back as text and are decoded through a memo: in a listing most runs share
        # the same few values, and json.loads per row was half the time of listing 10k runs.
        cols = [null().label("config") if c.name == "config" and not with_config
                else cast(c, Text).label(c.name) if c.name in ("gpus", "tags") else c for c in T_RUNS.columns]
        q = select(*cols).where(*self._run_filters(state, task, kind, text, tag))
        q = q.order_by(col.desc() if order.startswith("-") else col.asc(), T_RUNS.c.id)
        if limit is not None:
            q = q.limit(int(limit))
        if offset:
            q = q.offset(int(offset))
        with self._read() as conn:
            rows = conn.execute(q).all()
        memo: dict[str | None, Any] = {}

        def decode(text: str | None) -> Any:
            if text not in memo:
                memo[text] = json.loads(text) if text else []
            value = memo[text]
            return list(value) if not value or isinstance(value[0], str) else [dict(v) for v in value]

        gi, ti = RUN_FIELDS.index("gpus"), RUN_FIELDS.index("tags")
        out = []
        for r in rows:
            r = list(r)
            r[gi], r[ti] = decode(r[gi]), decode(r[ti])
            out.append(_run(r))
        return out

    def count_runs(self, *, state: str | Iterable[str] | None = None, task: str | None = None,
                   kind: str | None = None, text: str | None = None, tag: str | None = None) -> int:
        q = select(func.count()).select_from(T_RUNS).where(*self._run_filters(state, task, kind, text, tag))
        with self._read() as conn:
            return int(conn.execute(q).scalar_one())

    def update_run(self, run_id: str, **fields: Any) -> Run:
        bad = sorted(set(fields) - set(RUN_FIELDS) | ({"id"} & set(fields)))
        if bad:
            raise TypeError(f"update_run: not updatable: {', '.join(bad)}")
        if "state" in fields:
            fields["state"] = str(_check_state(fields["state"]))
        if "gpus" in fields:
            fields["gpus"] = [{"index": g["index"], "uuid": g["uuid"]} for g in _gpu_entries(fields["gpus"])]
        for key in ("best_metric_value", "latest_loss"):
            if key in fields:
                fields[key] = _nan_to_none(fields[key])
        if fields:
            with self._write() as conn:
                res = conn.execute(update(T_RUNS).where(T_RUNS.c.id == run_id).values(**fields))
                if res.rowcount == 0:
                    raise NotFoundError(f"no run {run_id!r}; {RUNS_HINT}")
        return self.get_run(run_id)

    def set_run_state(self, run_id: str, state: str, *, reason: str | None = None,
                      exit_code: int | None = None, signal: int | None = None,
                      only_from: Iterable[str] | None = None, now: float | None = None) -> bool:
        st = _check_state(state)
        t = _now(now)
        values: dict[str, Any] = {"state": str(st), "reason": reason, "exit_code": exit_code,
                                  "signal": signal, "ended": t if st in TERMINAL_STATES else None}
        if st is RunState.RUNNING:
            values["started"] = func.coalesce(T_RUNS.c.started, t)
        q = update(T_RUNS).where(T_RUNS.c.id == run_id)
        if only_from is not None:
            q = q.where(T_RUNS.c.state.in_(_states(only_from) or []))
        with self._write() as conn:
            res = conn.execute(q.values(**values))
            if res.rowcount == 0:
                self._require_run(conn, run_id)
                return False
        return True

    def delete_run(self, run_id: str) -> Run:
        run = self.get_run(run_id)
        with self._write() as conn:
            conn.execute(delete(T_RUNS).where(T_RUNS.c.id == run.id))
        return run

    # ---------------------------------------------------------------- attempts

    def start_attempt(self, run_id: str, *, resumed_from: str | None = None,
                      now: float | None = None) -> Attempt:
        for _ in range(5):
            try:
                with self._write() as conn:
                    self._require_run(conn, run_id)
                    last = conn.execute(select(func.max(T_ATTEMPTS.c.number))
                                        .where(T_ATTEMPTS.c.run_id == run_id)).scalar()
                    number = (last or 0) + 1
                    conn.execute(insert(T_ATTEMPTS).values(
                        run_id=run_id, number=number, started=_now(now), state="running",
                        resumed_from=resumed_from))
                    return _attempt(conn.execute(select(T_ATTEMPTS).where(
                        T_ATTEMPTS.c.run_id == run_id, T_ATTEMPTS.c.number == number)).one())
            except IntegrityError:  # PostgreSQL: another process took the same number; retry
                continue
        raise RuntimeError(f"could not allocate an attempt number for run {run_id}")

    def end_attempt(self, run_id: str, state: str, *, number: int | None = None,
                    exit_code: int | None = None, signal: int | None = None, reason: str | None = None,
                    now: float | None = None) -> Attempt:
        _check_state(state)
        with self._write() as conn:
            if number is None:
                number = conn.execute(select(func.max(T_ATTEMPTS.c.number))
                                      .where(T_ATTEMPTS.c.run_id == run_id)).scalar()
                if number is None:
                    self._require_run(conn, run_id)
                    raise NotFoundError(f"run {run_id} has no attempts to end")
            where = and_(T_ATTEMPTS.c.run_id == run_id, T_ATTEMPTS.c.number == number)
            res = conn.execute(update(T_ATTEMPTS).where(where).values(
                state=str(RunState(state)), ended=_now(now), exit_code=exit_code, signal=signal,
                reason=reason))
            if res.rowcount == 0:
                raise NotFoundError(f"run {run_id!r} has no attempt {number}; {RUNS_HINT}")
            return _attempt(conn.execute(select(T_ATTEMPTS).where(where)).one())

    def list_attempts(self, run_id: str) -> list[Attempt]:
        q = select(T_ATTEMPTS).where(T_ATTEMPTS.c.run_id == run_id).order_by(T_ATTEMPTS.c.number)
        with self._read() as conn:
            return [_attempt(r) for r in conn.execute(q)]

    # ---------------------------------------------------------------- metrics

    def add_metrics(self, run_id: str, rows: Iterable[tuple[int, str, float, float | None]]) -> int:
        params: list[tuple[Any, ...]] = []
        latest: dict[str, list[Any]] = {}  # name -> [step, value, time, count]
        now = _time.time()
        append = params.append
        for step, name, value, t in rows:
            step = int(step)  # plain Python scalars for the driver (numpy/torch values welcome)
            v = None if value is None else float(value)
            if v is not None and v != v:
                v = None
            t = now if t is None else float(t)
            append((run_id, step, name, v, t))
            cur = latest.get(name)
            if cur is None:
                latest[name] = [step, v, t, 1]
            else:
                if step >= cur[0]:
                    cur[0], cur[1], cur[2] = step, v, t
                cur[3] += 1
        if not params:
            return 0
        max_step = max(x[0] for x in latest.values())
        upsert, bump_step, bump_step_loss = self._ingest_statements()
        try:
            with self._write() as conn:
                self._require_run(conn, run_id)
                self._bulk_insert(conn, T_METRICS, METRIC_COLUMNS, params)
                conn.execute(upsert, [{"run_id": run_id, "name": n, "step": s, "value": v, "time": t,
                                       "count": c} for n, (s, v, t, c) in latest.items()])
                conn.execute(bump_step_loss if "loss" in latest else bump_step,
                             {"rid": run_id, "max_step": max_step})
        except IntegrityError:  # the run was deleted between the check and the insert
            raise NotFoundError(f"no run {run_id!r}; {RUNS_HINT}") from None
        return len(params)

    def _ingest_statements(self) -> tuple[Any, Any, Any]:
        """The metric_latest upsert and the run step/loss updates, built once per Registry
        (constructing these expressions per call was a third of add_metrics' overhead)."""
        if self._ingest_sql is None:
            ins = self._insert(T_LATEST)
            newer = ins.excluded.step >= T_LATEST.c.step
            upsert = ins.on_conflict_do_update(
                index_elements=[T_LATEST.c.run_id, T_LATEST.c.name],
                set_={"step": case((newer, ins.excluded.step), else_=T_LATEST.c.step),
                      "value": case((newer, ins.excluded.value), else_=T_LATEST.c.value),
                      "time": case((newer, ins.excluded.time), else_=T_LATEST.c.time),
                      "count": T_LATEST.c.count + ins.excluded.count},
            )
            max_step = bindparam("max_step", type_=Integer)
            rid = bindparam("rid", type_=String)
            step = case((T_RUNS.c.step < max_step, max_step), else_=T_RUNS.c.step)
            bump = update(T_RUNS).where(T_RUNS.c.id == rid).values(step=step)
            loss = (select(T_LATEST.c.value).where(T_LATEST.c.run_id == rid, T_LATEST.c.name == "loss")
                    .scalar_subquery())
            self._ingest_sql = (upsert, bump, bump.values(latest_loss=loss))
        return self._ingest_sql

    def metric_names(self, run_id: str) -> list[str]:
        q = select(T_LATEST.c.name).where(T_LATEST.c.run_id == run_id).order_by(T_LATEST.c.name)
        with self._read() as conn:
            return list(conn.execute(q).scalars())

    def latest_metrics(self, run_id: str) -> dict[str, MetricLatest]:
        q = select(T_LATEST).where(T_LATEST.c.run_id == run_id).order_by(T_LATEST.c.name)
        with self._read() as conn:
            return {r.name: MetricLatest(r.run_id, r.name, r.step, _none_to_nan(r.value), r.time, r.count)
                    for r in conn.execute(q)}

    def metric_series(self, run_id: str, name: str, *, max_points: int | None = None,
                      min_step: int | None = None, max_step: int | None = None) -> MetricSeries:
        m = T_METRICS.c
        where = [m.run_id == run_id, m.name == name]
        if min_step is not None:
            where.append(m.step >= min_step)
        if max_step is not None:
            where.append(m.step <= max_step)
        with self._read() as conn:
            ranged = min_step is not None or max_step is not None
            n = self._series_size(conn, run_id, name, where, ranged)
            if max_points is None or n <= max_points:
                rows = conn.execute(select(m.step, m.value).where(*where).order_by(m.step, m.id)).all()
                values = [_none_to_nan(r[1]) for r in rows]
                return MetricSeries(run_id, name, [r[0] for r in rows], values, list(values), list(values),
                                    len(rows), False)
            buckets = max(1, int(max_points))
            lo = conn.execute(select(func.min(m.step)).where(*where)).scalar()
            hi = conn.execute(select(func.max(m.step)).where(*where)).scalar()
            if lo is None:
                return MetricSeries(run_id, name, [], [], [], [], 0, False)
            span = int(hi) - int(lo) + 1
            if n <= EXACT_DOWNSAMPLE_LIMIT:
                bucket = (cast(m.step - int(lo), BigInteger) * buckets) // span  # integer division
                q = (select(func.max(m.step), func.avg(m.value), func.min(m.value), func.max(m.value))
                     .where(*where).group_by(bucket).order_by(bucket))
                agg = [(int(r[0]), r[1], r[2], r[3]) for r in conn.execute(q)]
            else:
                agg = self._sampled_buckets(conn, run_id, name, int(lo), int(hi), span, buckets)
        cols = [[_none_to_nan(a[j]) for a in agg] for j in (1, 2, 3)]
        return MetricSeries(run_id, name, [a[0] for a in agg], *cols, int(n), True)

    def _series_size(self, conn: Connection, run_id: str, name: str, where: list[Any], ranged: bool) -> int:
        """Points in the series: O(1) from metric_latest, or a COUNT over a step range."""
        if not ranged:
            n = conn.execute(select(T_LATEST.c.count).where(T_LATEST.c.run_id == run_id,
                                                            T_LATEST.c.name == name)).scalar()
            return int(n or 0)
        return int(conn.execute(select(func.count()).select_from(T_METRICS).where(*where)).scalar_one())

    def _sampled_buckets(self, conn: Connection, run_id: str, name: str, lo: int, hi: int, span: int,
                         buckets: int) -> list[tuple[int, float | None, float | None, float | None]]:
        """Bucket (last step, mean, min, max) estimated from SAMPLES_PER_BUCKET index seeks per
        bucket: O(buckets · log n) instead of reading every point (1M points → ~8k seeks)."""
        k = buckets * SAMPLES_PER_BUCKET
        rows = conn.execute(text(_SEEK_SQL), {"run": run_id, "name": name, "lo": lo, "hi": hi,
                                              "span": span, "k": k}).all()
        groups: dict[int, dict[int, tuple[int, float | None]]] = {}
        for i, mid, step, value in rows:
            groups.setdefault(int(i) // SAMPLES_PER_BUCKET, {})[mid] = (step, value)
        out = []
        for b in sorted(groups):
            pts = sorted(groups[b].values())
            vals = [v for _, v in pts if v is not None]
            if vals:
                out.append((pts[-1][0], sum(vals) / len(vals), min(vals), max(vals)))
            else:
                out.append((pts[-1][0], None, None, None))
        return out

    def metrics_since(self, run_id: str, after_id: int = 0, *, names: Iterable[str] | None = None,
                      limit: int | None = None) -> list[Metric]:
        m = T_METRICS.c
        q = select(m.id, m.run_id, m.step, m.name, m.value, m.time).where(m.run_id == run_id, m.id > after_id)
        if names is not None:
            q = q.where(m.name.in_(list(names)))
        q = q.order_by(m.id)
        if limit is not None:
            q = q.limit(int(limit))
        with self._read() as conn:
            return [Metric(r[0], r[1], r[2], r[3], _none_to_nan(r[4]), r[5]) for r in conn.execute(q)]

    def last_metric_id(self, run_id: str) -> int:
        q = select(func.max(T_METRICS.c.id)).where(T_METRICS.c.run_id == run_id)
        with self._read() as conn:
            return int(conn.execute(q).scalar_one() or 0)

    # ---------------------------------------------------------------- evals

    def add_eval(self, run_id: str, step: int, split: str, metrics: Mapping[str, float], *,
                 time: float | None = None) -> Eval:
        clean = {k: _nan_to_none(v) if isinstance(v, (int, float)) else v for k, v in metrics.items()}
        with self._write() as conn:
            self._require_run(conn, run_id)
            res = conn.execute(insert(T_EVALS).values(run_id=run_id, step=int(step), split=split,
                                                      metrics=clean, time=_now(time)))
            new_id = res.inserted_primary_key[0]
            return _eval(conn.execute(select(T_EVALS).where(T_EVALS.c.id == new_id)).one())

    def list_evals(self, run_id: str, split: str | None = None) -> list[Eval]:
        q = select(T_EVALS).where(T_EVALS.c.run_id == run_id)
        if split:
            q = q.where(T_EVALS.c.split == split)
        with self._read() as conn:
            return [_eval(r) for r in conn.execute(q.order_by(T_EVALS.c.step, T_EVALS.c.id))]

    def latest_eval(self, run_id: str, split: str | None = None) -> Eval | None:
        q = select(T_EVALS).where(T_EVALS.c.run_id == run_id)
        if split:
            q = q.where(T_EVALS.c.split == split)
        with self._read() as conn:
            row = conn.execute(q.order_by(T_EVALS.c.step.desc(), T_EVALS.c.id.desc()).limit(1)).first()
        return _eval(row) if row else None

    # ---------------------------------------------------------------- GPU samples

    def add_gpu_samples(self, samples: Iterable[GpuSample | Mapping[str, Any]]) -> int:
        params = []
        for s in samples:
            d = s.to_dict() if isinstance(s, GpuSample) else dict(s)
            if not d.get("gpu_uuid"):
                raise ValueError(f"GPU sample without gpu_uuid: {d!r}")
            d["time"] = _now(d.get("time"))
            params.append(tuple(d.get(k) for k in GPU_FIELDS))
        if params:
            with self._write() as conn:
                self._bulk_insert(conn, T_GPU, GPU_FIELDS, params)
        return len(params)

    def latest_gpu_samples(self, uuids: Iterable[str] | None = None) -> dict[str, GpuSample]:
        g = T_GPU.c
        out: dict[str, GpuSample] = {}
        with self._read() as conn:
            if uuids is None:
                uuids = list(conn.execute(select(g.gpu_uuid).distinct()).scalars())
            for uuid in uuids:
                row = conn.execute(select(T_GPU).where(g.gpu_uuid == uuid)
                                   .order_by(g.time.desc(), g.id.desc()).limit(1)).first()
                if row is not None:
                    out[uuid] = _gpu(row)
        return out

    def gpu_series(self, uuid: str, *, since: float | None = None, until: float | None = None,
                   run_id: str | None = None, limit: int | None = None) -> list[GpuSample]:
        g = T_GPU.c
        q = select(T_GPU).where(g.gpu_uuid == uuid)
        if since is not None:
            q = q.where(g.time >= since)
        if until is not None:
            q = q.where(g.time <= until)
        if run_id is not None:
            q = q.where(g.run_id == run_id)
        if limit is not None:  # the newest `limit` samples, returned oldest first
            q = q.order_by(g.time.desc(), g.id.desc()).limit(int(limit))
            with self._read() as conn:
                return [_gpu(r) for r in reversed(conn.execute(q).all())]
        with self._read() as conn:
            return [_gpu(r) for r in conn.execute(q.order_by(g.time, g.id))]

    def prune_gpu_samples(self, before: float) -> int:
        with self._write() as conn:
            return conn.execute(delete(T_GPU).where(T_GPU.c.time < before)).rowcount

    # ---------------------------------------------------------------- GPU reservations

    def reserve_gpus(self, run_id: str, gpus: Iterable[Any], *,
                     host: str | None = None) -> list[GpuReservation]:
        host = host if host is not None else socket.gethostname()
        entries = _gpu_entries(gpus)
        keys = [e["key"] for e in entries]
        r = T_RES.c
        try:
            with self._write() as conn:
                self._require_run(conn, run_id)
                held = {row.gpu_key: row.run_id for row in conn.execute(
                    select(r.gpu_key, r.run_id).where(r.host == host, r.gpu_key.in_(keys)))}
                others = {k: rid for k, rid in held.items() if rid != run_id}
                if others:
                    raise GpusBusyError(others)
                t = _time.time()
                new = [{"host": host, "gpu_key": e["key"], "gpu_index": e["index"], "gpu_uuid": e["uuid"],
                        "run_id": run_id, "reserved_at": t} for e in entries if e["key"] not in held]
                if new:
                    conn.execute(insert(T_RES), new)
                rows = conn.execute(select(T_RES).where(r.host == host, r.gpu_key.in_(keys))
                                    .order_by(r.gpu_index, r.gpu_key)).all()
        except IntegrityError:  # PostgreSQL: a concurrent reservation won the race
            with self._read() as conn:
                held = {row.gpu_key: row.run_id for row in conn.execute(
                    select(r.gpu_key, r.run_id).where(r.host == host, r.gpu_key.in_(keys)))}
            raise GpusBusyError({k: v for k, v in held.items() if v != run_id}) from None
        return [_reservation(x) for x in rows]

    def release_gpus(self, run_id: str, *, host: str | None = None) -> int:
        q = delete(T_RES).where(T_RES.c.run_id == run_id)
        if host is not None:
            q = q.where(T_RES.c.host == host)
        with self._write() as conn:
            return conn.execute(q).rowcount

    def reserved_gpus(self, *, host: str | None = None) -> list[GpuReservation]:
        q = select(T_RES).order_by(T_RES.c.host, T_RES.c.gpu_index, T_RES.c.gpu_key)
        if host is not None:
            q = q.where(T_RES.c.host == host)
        with self._read() as conn:
            return [_reservation(x) for x in conn.execute(q)]


def open_registry(url: str | None = None) -> Registry:
    """Open (creating or migrating if needed) the registry at `url` or paths.db_url()."""
    return Registry(url)
