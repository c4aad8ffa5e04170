"""Scalar metrics (with SQL downsampling) and evaluation results."""

from __future__ import annotations

import time as _time
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Integer,
    String,
    bindparam,
    case,
    cast,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError

from clpbert.errors import NotFoundError
from clpbert.registry.entities import (
    Eval,
    EvalPredictions,
    Metric,
    MetricLatest,
    MetricSeries,
)
from clpbert.registry.store import (
    RUNS_HINT,
    T_EVALS,
    T_LATEST,
    T_METRICS,
    T_PREDS,
    T_RUNS,
    Store,
    _eval,
    _nan_to_none,
    _none_to_nan,
    _now,
)

METRIC_COLUMNS = ("run_id", "step", "name", "value", "time")

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


class MetricQueries(Store):
    """Scalar metrics (with SQL downsampling) and evaluation results."""

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

    def add_eval_predictions(self, eval_id: int, path: str, *, kind: str, rows: int,
                             now: float | None = None) -> EvalPredictions:
        with self._write() as conn:
            row = conn.execute(select(T_EVALS.c.run_id).where(T_EVALS.c.id == int(eval_id))).first()
            if row is None:
                raise NotFoundError(f"no evaluation with id {eval_id}; `clpbert runs show RUN` lists them")
            values = {"eval_id": int(eval_id), "run_id": row[0], "path": str(path), "kind": kind,
                      "rows": int(rows), "created": _now(now)}
            conn.execute(delete(T_PREDS).where(T_PREDS.c.eval_id == int(eval_id)))
            conn.execute(insert(T_PREDS).values(**values))
            return EvalPredictions(**values)

    def list_eval_predictions(self, run_id: str) -> dict[int, EvalPredictions]:
        with self._read() as conn:
            rows = conn.execute(select(T_PREDS).where(T_PREDS.c.run_id == run_id))
            return {r[0]: EvalPredictions(*r) for r in rows}

    def remove_eval_predictions(self, eval_ids: Iterable[int]) -> int:
        ids = [int(i) for i in eval_ids]
        if not ids:
            return 0
        with self._write() as conn:
            return conn.execute(delete(T_PREDS).where(T_PREDS.c.eval_id.in_(ids))).rowcount
