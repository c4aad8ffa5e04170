"""A run's detail as data: what `runs list|show --json` and `run --json` print, and the metric,
evaluation and GPU rows the TUI's run detail and compare screens draw, read the same way for both
front-ends."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from clpbert.registry import Eval, Registry, Run

SeriesPoints = list[tuple[float, float | None]] | list[tuple[float, float | None, float | None, float | None]]
"""(step, value) points as logged, or (step, mean, min, max) buckets of a downsampled series."""


def run_summary(run: Run) -> dict[str, Any]:
    """What `runs list --json` prints per run (everything but the config)."""
    d = run.to_dict()
    d.pop("config", None)
    return d


def run_outcome(reg: Registry, run: Run) -> dict[str, Any]:
    """What `clpbert run|runs resume --json` print: the run's summary and its latest evaluation."""
    data = run_summary(run)
    ev = reg.latest_eval(run.id)
    data["latest_eval"] = ev.to_dict() if ev is not None else None
    return data


def run_detail(reg: Registry, run: Run) -> dict[str, Any]:
    """What `runs show --json` prints: the run, its attempts, latest metrics and evals, how its
    weights were initialised and, for a node run, its multi-node job."""
    from clpbert.app.job import job_of
    from clpbert.train.init_source import describe, is_random

    d = run.to_dict()
    d["attempts"] = [a.to_dict() for a in reg.list_attempts(run.id)]
    d["latest_metrics"] = {k: v.to_dict() for k, v in reg.latest_metrics(run.id).items()}
    d["evals"] = [e.to_dict() for e in reg.list_evals(run.id)]
    latest = reg.latest_eval(run.id)
    d["latest_eval"] = latest.to_dict() if latest else None
    config = run.config or {}
    d["init"] = {"random": is_random(config), "from": describe(config)}
    job = job_of(reg, run)
    d["job"] = job.to_dict() if job is not None else None
    return d


def downsampled_series(reg: Registry, run_id: str, name: str, max_points: int) -> SeriesPoints:
    """One metric of a run as (step, mean, min, max) buckets, at most `max_points` of them."""
    s = reg.metric_series(run_id, name, max_points=max_points)
    return list(zip(s.steps, s.values, s.mins, s.maxs, strict=True))


def metric_update(reg: Registry, run_id: str, after_metric_id: int | None, max_points: int
                  ) -> tuple[dict[str, SeriesPoints], int | None]:
    """(series by metric name, the last metric row id seen). The first load (`after_metric_id`
    None) gives every metric downsampled; later ones the points logged since, as logged."""
    series: dict[str, Any] = {}
    if after_metric_id is None:
        last = reg.last_metric_id(run_id)
        for name in reg.metric_names(run_id):
            series[name] = downsampled_series(reg, run_id, name, max_points)
        return series, last
    last = after_metric_id
    for m in reg.metrics_since(run_id, after_metric_id, limit=100_000):
        series.setdefault(m.name, []).append((m.step, m.value))
        last = m.id
    return series, last


def evals_since(reg: Registry, run_id: str, after_eval_id: int | None) -> tuple[list[Eval], int]:
    """The run's evaluations after `after_eval_id` (every one when None) and the last id seen."""
    evals = [e for e in reg.list_evals(run_id) if after_eval_id is None or e.id > after_eval_id]
    return evals, max([e.id for e in evals], default=after_eval_id or 0)


def gpu_history(reg: Registry, uuids: Sequence[str], run_id: str | None = None, limit: int = 120
                ) -> dict[str, tuple[list[float | None], list[float | None]]]:
    """uuid -> (temperatures, utilizations) of the newest `limit` samples the supervisors stored."""
    out = {}
    for uuid in uuids:
        hist = reg.gpu_series(uuid, run_id=run_id, limit=limit)
        out[uuid] = ([h.temperature for h in hist], [h.util for h in hist])
    return out


def compare_series(reg: Registry, run_ids: Sequence[str], metric: str, max_points: int
                   ) -> tuple[list[Run], dict[str, SeriesPoints], list[str]]:
    """(the runs, run id -> `metric` downsampled, every metric name any of them logged): the
    curves of the TUI's compare screen."""
    runs = [reg.get_run(r) for r in run_ids]
    names: set[str] = set()
    series = {}
    for run in runs:
        names.update(reg.metric_names(run.id))
        series[run.id] = downsampled_series(reg, run.id, metric, max_points)
    return runs, series, sorted(names)
