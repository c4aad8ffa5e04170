"""Runs and their attempts."""

from __future__ import annotations

import json
import os
import secrets
import socket
import time as _time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    String,
    Text,
    and_,
    cast,
    delete,
    func,
    insert,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from clpbert import paths
from clpbert.errors import NotFoundError, UserError
from clpbert.registry.entities import (
    RUN_KINDS,
    TERMINAL_STATES,
    Attempt,
    Run,
    RunState,
)
from clpbert.registry.run_order import parse_run_order
from clpbert.registry.store import (
    RUN_FIELDS,
    RUNS_HINT,
    T_ATTEMPTS,
    T_RUNS,
    Store,
    _attempt,
    _check_state,
    _gpu_entries,
    _like_escape,
    _nan_to_none,
    _now,
    _run,
    _states,
)
from clpbert.runs.lifecycle import check_transition


class RunQueries(Store):
    """Runs and their attempts."""

    # ---------------------------------------------------------------- runs

    def create_run(self, kind: str, task: str, *, dataset: str = "", name: str = "",
                   config: Mapping[str, Any] | None = None, tags: Sequence[Any] = (), notes: str = "",
                   run_dir: str | os.PathLike[str] | None = None, total_steps: int | None = None,
                   gpus: Iterable[Any] = (), nnodes: int = 1, host: str | None = None,
                   state: str = RunState.QUEUED, run_id: str | None = None,
                   node_rank: int | None = None, job_id: str | None = None) -> Run:
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
                "step": 0, "total_steps": total_steps, "node_rank": node_rank, "job_id": job_id,
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
        key, descending = parse_run_order(order)
        col = T_RUNS.c[key]
        # gpus/tags come back as text and are decoded through a memo: in a listing most runs share
        # the same few values, and json.loads per row was half the time of listing 10k runs.
        cols = [null().label("config") if c.name == "config" and not with_config
                else cast(c, Text).label(c.name) if c.name in ("gpus", "tags") else c for c in T_RUNS.columns]
        q = select(*cols).where(*self._run_filters(state, task, kind, text, tag))
        by = col.desc() if descending else col.asc()
        if key == "job_id":
            q = q.order_by(by.nulls_last(), T_RUNS.c.node_rank, T_RUNS.c.id)
        else:
            q = q.order_by(by, T_RUNS.c.id)
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

    def list_job_runs(self, job_id: str) -> list[Run]:
        """The node runs of one multi-node job held in this registry, by node rank."""
        q = select(T_RUNS).where(T_RUNS.c.job_id == job_id).order_by(T_RUNS.c.node_rank, T_RUNS.c.id)
        with self._read() as conn:
            return [_run(r) for r in conn.execute(q)]

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
            sources = check_transition(only_from, st)  # a pair not in the lifecycle's table is a bug
            q = q.where(T_RUNS.c.state.in_([str(s) for s in sources]))
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
                        run_id=run_id, number=number, started=_now(now), state=RunState.RUNNING.value,
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
