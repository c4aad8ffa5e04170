"""Runs side by side: which config keys differ and the final numbers (`clpbert runs compare`, the
TUI's compare screen), and the run list a `--tag` names."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from clpbert.errors import UserError

if TYPE_CHECKING:
    from clpbert.registry import Registry


def flatten_config(cfg: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested config -> {"optim.lr": 1e-4, ...}."""
    out: dict[str, Any] = {}
    for key, value in cfg.items():
        if isinstance(value, Mapping):
            out.update(flatten_config(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def config_differences(configs: Mapping[str, Mapping[str, Any]], all_keys: bool = False
                       ) -> dict[str, dict[str, Any]]:
    """Dotted key -> {run: value} for every key whose value is not the same in all runs (every key
    with all_keys). Values are the same when their JSON is (so 1e-4 and a tuple's list agree)."""
    flat = {run: flatten_config(cfg) for run, cfg in configs.items()}
    keys = sorted({k for f in flat.values() for k in f})
    out = {}
    for key in keys:
        values = {run: f.get(key) for run, f in flat.items()}
        if all_keys or len({json.dumps(v, sort_keys=True, default=str) for v in values.values()}) > 1:
            out[key] = values
    return out


def compare_data(reg: Registry, refs: list[str], all_keys: bool = False) -> dict[str, Any]:
    """Config differences and final numbers of several runs (what `runs compare --json` prints)."""
    runs = [reg.get_run(r) for r in refs]
    diff = config_differences({str(i): r.config for i, r in enumerate(runs)}, all_keys)
    config = {k: list(values.values()) for k, values in diff.items()}
    metrics: dict[str, list[Any]] = {}
    for i, r in enumerate(runs):
        # the latest evaluation of each split: val (model selection) and test (once, on best.pt) apart
        latest = {ev.split: ev for ev in reg.list_evals(r.id)}
        values = {f"{split}/{k}": v for split, ev in latest.items() for k, v in ev.metrics.items()}
        values.update({k: m.value for k, m in reg.latest_metrics(r.id).items() if k.startswith("train/")})
        for k, v in values.items():
            metrics.setdefault(k, [None] * len(runs))[i] = v
    return {"runs": [{"id": r.id, "name": r.name, "task": r.task, "state": str(r.state), "step": r.step,
                      "best_metric_name": r.best_metric_name, "best_metric_value": r.best_metric_value}
                     for r in runs],
            "config": config, "metrics": dict(sorted(metrics.items()))}


def runs_with_tag(reg: Registry, refs: list[str] | None, tag: str | None) -> list[str]:
    """The runs named, then those with the tag (oldest first; each run once, in that order)."""
    out = list(refs or [])
    if tag:
        tagged = [r.id for r in reg.list_runs(tag=tag, order="created")]
        if not tagged:
            raise UserError(f"no run has the tag {tag!r} (`clpbert runs edit RUN --tag {tag}` adds it)")
        known = {reg.get_run(r).id for r in out}
        out += [r for r in tagged if r not in known]
    return out
