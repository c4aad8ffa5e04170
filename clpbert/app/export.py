"""A run's metrics and evaluations as data, CSV (one row per point) or strict JSON
(`clpbert runs export`)."""

from __future__ import annotations

import csv
import io
import json
from typing import TYPE_CHECKING, Any

from clpbert.json_safe import json_safe

if TYPE_CHECKING:
    from clpbert.registry import Registry

WHATS = ("metrics", "evals", "all")
FORMATS = ("csv", "json")


def export_data(reg: Registry, refs: list[str], what: str) -> list[dict[str, Any]]:
    out = []
    for ref in refs:
        run = reg.get_run(ref)
        entry: dict[str, Any] = {"id": run.id, "name": run.name, "task": run.task, "state": str(run.state)}
        if what in ("metrics", "all"):
            entry["metrics"] = [{"step": m.step, "name": m.name, "value": m.value, "time": m.time}
                                for m in reg.metrics_since(run.id, 0)]
        if what in ("evals", "all"):
            entry["evals"] = [{"step": e.step, "split": e.split, "metrics": e.metrics, "time": e.time}
                              for e in reg.list_evals(run.id)]
        out.append(entry)
    return out


def export_csv(runs: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["run_id", "kind", "split", "step", "name", "value", "time"])
    for r in runs:
        for m in r.get("metrics", []):
            v = m["value"]
            w.writerow([r["id"], "metric", "", m["step"], m["name"], "" if v != v else v, m["time"]])
        for e in r.get("evals", []):
            for name, v in e["metrics"].items():
                w.writerow([r["id"], "eval", e["split"], e["step"], name, "" if v is None else v, e["time"]])
    return buf.getvalue()


def write_export(runs: list[dict[str, Any]], fmt: str, output: str | None) -> str:
    """The export as text; written atomically to `output` when given (never a half-written file)."""
    text = export_csv(runs) if fmt == "csv" else export_json(runs)
    if output is not None:
        from clpbert.fileio import atomic_write_text

        atomic_write_text(output, text)
    return text


def to_json_text(data: Any) -> str:
    """Any command's data as indented JSON (NaN/inf become null, unknown objects their str())."""
    return json.dumps(json_safe(data), indent=2, default=str)


def export_json(runs: list[dict[str, Any]]) -> str:
    """Strict JSON (NaN and infinities become null; the CLI's old cleaner let infinity through)."""
    return json.dumps({"runs": json_safe(runs)}, default=str) + "\n"
