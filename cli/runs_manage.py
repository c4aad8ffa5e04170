"""`clpbert runs logs|stop|kill|resume|rm|compare|export`: managing runs (the run manager's half
of the `runs` group; list/show live in cli/runs.py).

Module top imports only typer (and the stdlib); the engine is imported inside the commands.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.common import JsonFlag, YesFlag, confirm, open_registry
from cli.runs import RunArg

GRACE_HELP = "Seconds to wait after SIGTERM (the trainer checkpoints) before SIGKILL."
SLURM_SYNC_EVERY_S = 5.0
"""`runs logs -f` on a Slurm run: how often its events (and squeue) are read for its state."""


def _reconciled(reg: Any) -> Any:
    from clpbert.runs.reconcile import reconcile

    reconcile(reg)
    return reg


def logs(
    run_ref: RunArg,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new lines until the run "
                                         "ends.")] = False,
    supervisor: Annotated[bool, typer.Option("--supervisor", help="The supervisor's log instead of the "
                                             "trainer's.")] = False,
    tail: Annotated[int, typer.Option("--tail", "-n", min=0, help="Start with the last N lines (0 = all).")]
    = 0,
) -> None:
    """Print the run's trainer log (RUN_DIR/logs/train.log, a Slurm job's slurm-JOB.out); -f follows it."""
    from clpbert.errors import UserError
    from clpbert.runs.launch import is_slurm_run
    from clpbert.runs.slurm_sync import slurm_log, sync_slurm_run

    with open_registry() as reg:
        run = _reconciled(reg).get_run(run_ref)
        slurm = is_slurm_run(run)
        if slurm and supervisor:
            raise UserError(f"run {run.id} runs under Slurm and has no supervisor log; "
                            "leave out --supervisor")
        own = Path(run.run_dir) / "logs" / ("supervisor.log" if supervisor else "train.log")
        path = (slurm_log(run) if slurm else None) or own
        pos = 0
        next_sync = time.monotonic() + SLURM_SYNC_EVERY_S
        if path.exists() and tail:
            lines = path.read_bytes().splitlines(keepends=True)
            sys.stdout.buffer.write(b"".join(lines[-tail:]))
            pos = path.stat().st_size
        while True:
            if path.exists():
                with path.open("rb") as f:
                    f.seek(pos)
                    chunk = f.read()
                if chunk:
                    sys.stdout.buffer.write(chunk)
                    sys.stdout.flush()
                    pos += len(chunk)
            if not follow:
                break
            if slurm and time.monotonic() >= next_sync:  # no supervisor writes its state: read its events
                next_sync = time.monotonic() + SLURM_SYNC_EVERY_S
                sync_slurm_run(reg, reg.get_run(run.id))
                path = slurm_log(run) or path
            if str(reg.get_run(run.id).state) in ("finished", "failed", "killed", "lost"):
                follow = False  # one last read picks up the final lines
                continue
            time.sleep(0.5)
        if not path.exists():
            sys.stderr.write(f"run {run.id} has no {path.name} yet ({run.state})\n")


def _print_outcome(run: Any, as_json: bool) -> None:
    if as_json:
        from cli.runs import run_summary

        print(json.dumps(run_summary(run)))
    else:
        sys.stderr.write(f"run {run.id} {run.state}" + (f": {run.reason}" if run.reason else "") + "\n")


def stop(
    run_ref: RunArg,
    grace: Annotated[float, typer.Option("--grace", min=0, help=GRACE_HELP)] = 30.0,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Return at once instead of waiting.")] = False,
    json_: JsonFlag = False,
) -> None:
    """Stop a run: SIGTERM to its process group (the trainer saves a checkpoint), SIGKILL after
    the grace period. The run ends `killed`; `clpbert runs resume` continues it."""
    from clpbert.runs.service import stop_run

    with open_registry() as reg:
        _print_outcome(stop_run(_reconciled(reg), run_ref, grace_s=grace, wait=not no_wait), json_)


def kill(run_ref: RunArg, json_: JsonFlag = False) -> None:
    """Kill a run now: SIGKILL to all its processes (no checkpoint). The run ends `killed`."""
    from clpbert.runs.service import kill_run

    with open_registry() as reg:
        _print_outcome(kill_run(_reconciled(reg), run_ref), json_)


def resume(
    run_ref: RunArg,
    gpus: Annotated[str | None, typer.Option("--gpus", help="Other GPUs than the run had (0,1 / auto:N).")]
    = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Show live progress until the run ends.")]
    = False,
    json_: JsonFlag = False,
) -> None:
    """Continue a failed, killed or lost run from its last checkpoint, as a new attempt."""
    from cli.run import follow_and_report, run_json
    from clpbert.runs.service import resume_run

    with open_registry() as reg:
        run = resume_run(_reconciled(reg), run_ref, gpus=gpus)
        if follow:
            run = follow_and_report(reg, run.id, quiet=json_)
        if json_:
            print(json.dumps(run_json(reg, run)))
        else:
            sys.stderr.write(f"run {run.id} resumed ({run.state})\n")
        if follow and str(run.state) != "finished":
            raise typer.Exit(1)


def rm(
    run_refs: Annotated[list[str], typer.Argument(help="Run ids, prefixes or names.")],
    force: Annotated[bool, typer.Option("--force", help="Kill active runs first instead of refusing.")]
    = False,
    yes: YesFlag = False,
) -> None:
    """Remove runs: their registry rows (metrics, evals, attempts, checkpoints) and run dirs."""
    from clpbert.errors import UserError
    from clpbert.runs.service import ACTIVE, remove_run

    with open_registry() as reg:
        runs = [_reconciled(reg).get_run(r) for r in run_refs]
        active = [r for r in runs if str(r.state) in ACTIVE]
        if active and not force:
            raise UserError(f"run {active[0].id} is {active[0].state}; stop it first or pass --force")
        names = ", ".join(f"{r.id} ({r.name})" for r in runs)
        confirm(f"Remove {len(runs)} run(s) and their files: {names}?", yes)
        for r in runs:
            remove_run(reg, r.id, force=force)
            sys.stderr.write(f"removed run {r.id}\n")


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def compare_data(reg: Any, refs: list[str], all_keys: bool = False) -> dict[str, Any]:
    """Config differences and final numbers of several runs (what --json prints)."""
    runs = [reg.get_run(r) for r in refs]
    configs = [_flatten(r.config) for r in runs]
    keys = sorted(set().union(*configs))
    config = {k: [c.get(k) for c in configs] for k in keys
              if all_keys or len({json.dumps(c.get(k), sort_keys=True) for c in configs}) > 1}
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


TAG_HELP = "Also every run with this tag (oldest first), e.g. all runs of a sweep."


def _with_tag(reg: Any, refs: list[str] | None, tag: str | None) -> list[str]:
    """The runs named, then those with the tag (each once, in that order)."""
    from clpbert.errors import UserError

    out = list(refs or [])
    if tag:
        tagged = [r.id for r in reg.list_runs(tag=tag, order="created")]
        if not tagged:
            raise UserError(f"no run has the tag {tag!r} (`clpbert runs edit RUN --tag {tag}` adds it)")
        known = {reg.get_run(r).id for r in out}
        out += [r for r in tagged if r not in known]
    return out


def compare(
    run_refs: Annotated[list[str] | None, typer.Argument(help="Two or more runs.", show_default=False)]
    = None,
    tag: Annotated[str | None, typer.Option("--tag", help=TAG_HELP)] = None,
    all_keys: Annotated[bool, typer.Option("--all", help="Show every config key, not only differences.")]
    = False,
    json_: JsonFlag = False,
) -> None:
    """Compare runs side by side: config differences and final metrics."""
    from clpbert.errors import UserError

    with open_registry() as reg:
        refs = _with_tag(_reconciled(reg), run_refs, tag)
        if len(refs) < 2:
            raise UserError("compare needs at least two runs (name them, or give --tag)")
        data = compare_data(reg, refs, all_keys)
    if json_:
        print(json.dumps(data, default=str))
        return
    from rich.console import Console
    from rich.table import Table

    def cell(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    table = Table(title="compare", title_justify="left")
    table.add_column("")
    for r in data["runs"]:
        table.add_column(f"{r['id']}\n{r['name']}", justify="right")
    for key in ("task", "state", "step"):
        table.add_row(key, *[cell(r[key]) for r in data["runs"]])
    table.add_row("best", *[f"{r['best_metric_name']}={cell(r['best_metric_value'])}" if r["best_metric_name"]
                            else "-" for r in data["runs"]])
    if data["config"]:
        table.add_section()
        for key, values in data["config"].items():
            table.add_row(key, *[cell(v) for v in values])
    if data["metrics"]:
        table.add_section()
        for key, values in data["metrics"].items():
            table.add_row(key, *[cell(v) for v in values])
    Console().print(table)


def export_data(reg: Any, refs: list[str], what: str) -> list[dict[str, Any]]:
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


def _csv(runs: list[dict[str, Any]]) -> str:
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


def export(
    run_refs: Annotated[list[str] | None, typer.Argument(help="Runs to export.", show_default=False)] = None,
    tag: Annotated[str | None, typer.Option("--tag", help=TAG_HELP)] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv | json")] = "csv",
    what: Annotated[str, typer.Option("--what", help="metrics | evals | all")] = "all",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")]
    = None,
) -> None:
    """Export metrics and evals as CSV (one row per point) or JSON."""
    from clpbert.errors import UserError

    if fmt not in ("csv", "json"):
        raise UserError(f"--format {fmt!r}: use csv or json")
    if what not in ("metrics", "evals", "all"):
        raise UserError(f"--what {what!r}: use metrics, evals or all")
    with open_registry() as reg:
        refs = _with_tag(_reconciled(reg), run_refs, tag)
        if not refs:
            raise UserError("export needs runs: name them, or give --tag")
        runs = export_data(reg, refs, what)
    text = _csv(runs) if fmt == "csv" else _json(runs)
    if output is None:
        sys.stdout.write(text)
        return
    tmp = output.with_name(f".{output.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, output)
    sys.stderr.write(f"wrote {output}\n")


def _json(runs: list[dict[str, Any]]) -> str:
    def clean(v: Any) -> Any:
        if isinstance(v, float) and v != v:
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, list):
            return [clean(x) for x in v]
        return v

    return json.dumps({"runs": clean(runs)}, default=str) + "\n"


def register(group: typer.Typer) -> None:
    """Add the management commands to the `runs` group (cli/runs.py EXTENSIONS)."""
    group.command("logs")(logs)
    group.command("stop")(stop)
    group.command("kill")(kill)
    group.command("resume")(resume)
    group.command("rm")(rm)
    group.command("compare")(compare)
    group.command("export")(export)
