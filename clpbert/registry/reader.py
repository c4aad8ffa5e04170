"""Reads of a current SQLite registry through the standard library's sqlite3, without SQLAlchemy.

`clpbert runs list`, `runs show`, `datasets list` and `ckpts list` are typed dozens of times a day;
importing SQLAlchemy and the ORM models cost them more than half a second, the query a few ms.
`open_reader()` gives a `RegistryReader` when the registry is a SQLite file already at the head
schema: the same read methods, arguments and entities as `Registry` (tests/registry/test_reader.py
holds them equal). Anything else (PostgreSQL, a missing file, a schema a writer must migrate first)
gets a full `Registry`, so callers never choose; writes always go through `Registry`.

The reader never writes and never migrates: it checks the stamped revision once when it opens (one
query) and refuses a newer schema as `Registry` does.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from clpbert import paths
from clpbert.errors import NotFoundError, UserError
from clpbert.registry.entities import (
    Attempt,
    Checkpoint,
    Dataset,
    Eval,
    MetricLatest,
    Run,
    RunState,
)
from clpbert.registry.revisions import check_known, head_revision
from clpbert.registry.run_order import parse_run_order

BUSY_TIMEOUT_MS = 30_000
RUNS_HINT = "`clpbert runs list` shows run ids"


def _columns(entity: type) -> str:
    """The entity's fields as a SELECT list: rows come back in field order, whatever the table's."""
    return ", ".join(f.name for f in dataclasses.fields(entity))


RUN_COLUMNS = tuple(f.name for f in dataclasses.fields(Run))
_CONFIG, _STATE, _GPUS, _TAGS, _JOB_NODES = (RUN_COLUMNS.index(c) for c in
                                             ("config", "state", "gpus", "tags", "job_nodes"))
_SPLITS = [f.name for f in dataclasses.fields(Dataset)].index("splits")
_EVAL_METRICS = [f.name for f in dataclasses.fields(Eval)].index("metrics")


def sqlite_file(url: str) -> Path | None:
    """The file of a `sqlite:///PATH` URL (None: another backend, in-memory, or URL options)."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or "?" in url:
        return None
    path = unquote(url[len(prefix):])
    return None if not path or path == ":memory:" else Path(path)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _json(text: str | None, empty: Any) -> Any:
    return empty if text is None else json.loads(text)


def _equal(filters: dict[str, Any]) -> tuple[list[str], list[Any]]:
    """`column = ?` conditions and their parameters for the filters that are set."""
    used = {k: v for k, v in filters.items() if v}
    return [f"{k} = ?" for k in used], list(used.values())


def _where(conditions: list[str]) -> str:
    return "WHERE " + " AND ".join(conditions) if conditions else ""


def _states(state: str | Iterable[str] | None) -> list[str] | None:
    if state is None:
        return None
    items = [state] if isinstance(state, str) else list(state)
    out = []
    for s in items:
        try:
            out.append(str(RunState(s)))
        except ValueError:
            raise UserError(f"unknown run state {s!r}; one of: "
                            f"{', '.join(x.value for x in RunState)}") from None
    return out


class RegistryReader:
    """Read-only access to one SQLite registry file at the head schema (see the module docstring)."""

    backend = "sqlite"

    def __init__(self, path: Path, shown_url: str):
        self.url = shown_url
        self.path = path
        self._con = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                    check_same_thread=False)
        self._con.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        self.revision = self._revision()

    def _revision(self) -> str | None:
        try:
            row = self._con.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.OperationalError as e:
            if "no such table" in str(e):
                return None
            raise
        return row[0] if row else None

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> RegistryReader:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RegistryReader({self.url!r})"

    def _all(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        return self._con.execute(sql, tuple(params)).fetchall()

    # ---------------------------------------------------------------- datasets and checkpoints

    @staticmethod
    def _dataset(row: tuple[Any, ...]) -> Dataset:
        values = list(row)
        values[_SPLITS] = _json(values[_SPLITS], {})
        return Dataset(*values)

    def list_datasets(self, task: str | None = None) -> list[Dataset]:
        where, params = _equal({"task": task})
        sql = f"SELECT {_columns(Dataset)} FROM datasets {_where(where)} ORDER BY name"
        return [self._dataset(r) for r in self._all(sql, params)]

    def get_dataset(self, name: str) -> Dataset:
        rows = self._all(f"SELECT {_columns(Dataset)} FROM datasets WHERE name = ?", [name])
        if not rows:
            raise NotFoundError(f"no dataset {name!r}; `clpbert datasets list` shows registered datasets")
        return self._dataset(rows[0])

    def list_checkpoints(self, kind: str | None = None, run_id: str | None = None) -> list[Checkpoint]:
        where, params = _equal({"kind": kind, "run_id": run_id})
        sql = f"SELECT {_columns(Checkpoint)} FROM checkpoints {_where(where)} ORDER BY created DESC, id DESC"
        return [Checkpoint(*r) for r in self._all(sql, params)]

    def get_checkpoint(self, ref: str | int) -> Checkpoint:
        ref_s = str(ref)
        select = f"SELECT {_columns(Checkpoint)} FROM checkpoints"
        rows = self._all(f"{select} WHERE name = ?", [ref_s])
        if not rows and ref_s.isdigit():
            rows = self._all(f"{select} WHERE id = ?", [int(ref_s)])
        if not rows:
            path = str(Path(ref_s).expanduser().absolute())
            rows = self._all(f"{select} WHERE path = ? ORDER BY id DESC LIMIT 1", [path])
        if not rows:
            raise NotFoundError(f"no checkpoint {ref_s!r}; `clpbert ckpts list` shows registered checkpoints")
        return Checkpoint(*rows[0])

    # ---------------------------------------------------------------- runs

    @staticmethod
    def _run(row: tuple[Any, ...], memo: dict[str | None, Any]) -> Run:
        def decode(text: str | None) -> Any:
            if text not in memo:
                memo[text] = json.loads(text) if text else []
            value = memo[text]
            return list(value) if not value or isinstance(value[0], str) else [dict(v) for v in value]

        values = list(row)
        values[_CONFIG] = _json(values[_CONFIG], {})
        values[_STATE] = RunState(values[_STATE])
        values[_GPUS], values[_TAGS] = decode(values[_GPUS]), decode(values[_TAGS])
        values[_JOB_NODES] = _json(values[_JOB_NODES], None)
        return Run(*values)

    def _run_filters(self, state: Any, task: str | None, kind: str | None, text: str | None,
                     tag: str | None) -> tuple[str, list[Any]]:
        where, params = _equal({"task": task, "kind": kind})
        states = _states(state)
        if states:
            where.append(f"state IN ({', '.join('?' * len(states))})")
            params += states
        if text:
            cols = ("id", "name", "task", "dataset", "notes", "CAST(tags AS VARCHAR)")
            where.append("(" + " OR ".join(f"lower({c}) LIKE ? ESCAPE '\\'" for c in cols) + ")")
            params += [f"%{_like_escape(text.lower())}%"] * len(cols)  # `%` and `_` are plain characters
        if tag:
            forms = dict.fromkeys((json.dumps(str(tag)), json.dumps(str(tag), ensure_ascii=False)))
            where.append("(" + " OR ".join("CAST(tags AS VARCHAR) LIKE ? ESCAPE '\\'" for _ in forms) + ")")
            params += ["%" + _like_escape(f) + "%" for f in forms]
        return _where(where), params

    def list_runs(self, *, state: str | Iterable[str] | None = None, task: str | None = None,
                  kind: str | None = None, text: str | None = None, order: str = "-created",
                  limit: int | None = None, offset: int = 0, with_config: bool = False,
                  tag: str | None = None) -> list[Run]:
        key, descending = parse_run_order(order)
        where, params = self._run_filters(state, task, kind, text, tag)
        cols = ", ".join("NULL" if c == "config" and not with_config else c for c in RUN_COLUMNS)
        direction = "DESC" if descending else "ASC"
        then = " NULLS LAST, node_rank, id" if key == "job_id" else ", id"
        sql = f"SELECT {cols} FROM runs {where} ORDER BY {key} {direction}{then}"
        if limit is not None or offset:
            sql += " LIMIT ? OFFSET ?"
            params += [-1 if limit is None else int(limit), int(offset)]
        memo: dict[str | None, Any] = {}
        return [self._run(r, memo) for r in self._all(sql, params)]

    def count_runs(self, *, state: str | Iterable[str] | None = None, task: str | None = None,
                   kind: str | None = None, text: str | None = None, tag: str | None = None) -> int:
        where, params = self._run_filters(state, task, kind, text, tag)
        return int(self._all(f"SELECT count(*) FROM runs {where}", params)[0][0])

    def get_run(self, ref: str) -> Run:
        ref = str(ref).strip()
        select = f"SELECT {', '.join(RUN_COLUMNS)} FROM runs"
        rows = self._all(f"{select} WHERE id = ?", [ref])
        if not rows and ref:
            rows = self._all(f"{select} WHERE id LIKE ? ESCAPE '\\' LIMIT 2", [_like_escape(ref) + "%"])
            if not rows:
                rows = self._all(f"{select} WHERE name = ? LIMIT 2", [ref])
            if len(rows) > 1:
                raise UserError(f"run {ref!r} is ambiguous (matches {rows[0][0]}, {rows[1][0]}, ...); "
                                "give more characters of the id")
        if not rows:
            raise NotFoundError(f"no run {ref!r}; {RUNS_HINT}")
        return self._run(rows[0], {})

    def list_job_runs(self, job_id: str) -> list[Run]:
        """The node runs of one multi-node job held in this registry, by node rank."""
        sql = f"SELECT {', '.join(RUN_COLUMNS)} FROM runs WHERE job_id = ? ORDER BY node_rank, id"
        memo: dict[str | None, Any] = {}
        return [self._run(r, memo) for r in self._all(sql, [job_id])]

    def list_attempts(self, run_id: str) -> list[Attempt]:
        sql = f"SELECT {_columns(Attempt)} FROM attempts WHERE run_id = ? ORDER BY number"
        return [Attempt(*r) for r in self._all(sql, [run_id])]

    def latest_metrics(self, run_id: str) -> dict[str, MetricLatest]:
        rows = self._all("SELECT run_id, name, step, value, time, count FROM metric_latest "
                         "WHERE run_id = ? ORDER BY name", [run_id])
        return {r[1]: MetricLatest(r[0], r[1], r[2], math.nan if r[3] is None else r[3], r[4], r[5])
                for r in rows}

    def _evals(self, run_id: str, split: str | None, order: str, limit: str = "") -> list[Eval]:
        where, params = "WHERE run_id = ?", [run_id]
        if split:
            where, params = where + " AND split = ?", [*params, split]
        rows = self._all(f"SELECT {_columns(Eval)} FROM evals {where} ORDER BY {order} {limit}", params)
        out = []
        for r in rows:
            values = list(r)
            values[_EVAL_METRICS] = _json(values[_EVAL_METRICS], {})
            out.append(Eval(*values))
        return out

    def list_evals(self, run_id: str, split: str | None = None) -> list[Eval]:
        return self._evals(run_id, split, "step, id")

    def latest_eval(self, run_id: str, split: str | None = None) -> Eval | None:
        found = self._evals(run_id, split, "step DESC, id DESC", "LIMIT 1")
        return found[0] if found else None


def open_reader(url: str | None = None) -> Any:
    """A `RegistryReader` for a current SQLite registry file, else a full `Registry` (see above).

    Both answer the read methods above the same way; only a `Registry` can write.
    """
    url = url or paths.db_url()
    path = sqlite_file(url)
    if path is not None and path.is_file():
        try:
            reader = RegistryReader(path, url)
        except sqlite3.DatabaseError as e:
            raise UserError(f"cannot open registry {url}: {e} (move the file away or point "
                            "CLPBERT_HOME/--home elsewhere)") from None
        if reader.revision == head_revision():
            return reader
        reader.close()
        check_known(url, reader.revision)
    from clpbert.registry.queries import Registry

    return Registry(url)
