"""`clpbert runs logs|stop|kill|resume|rm|compare|export`: managing runs (the run manager's half
of the `runs` group; list/show live in cli/runs.py).

Module top imports only typer (and the stdlib); the engine is imported inside the commands.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.common import JsonFlag, YesFlag, confirm, open_registry
from cli.runs import RunArg
from clpbert.app.compare import compare_data, runs_with_tag
from clpbert.app.export import export_data, write_export
from clpbert.app.runs import RunState

GRACE_HELP = "Seconds to wait after SIGTERM (the trainer checkpoints) before SIGKILL."


def _reconciled(reg: Any) -> Any:
    from clpbert.app.runs import reconcile

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
    from clpbert.app.run_logs import RunLog

    with open_registry() as reg:
        log = RunLog(reg, _reconciled(reg).get_run(run_ref), supervisor, tail)
        for chunk in log.chunks(follow):
            sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
        if note := log.missing_note():
            sys.stderr.write(note + "\n")


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
    from clpbert.app.runs import stop_run

    with open_registry() as reg:
        _print_outcome(stop_run(_reconciled(reg), run_ref, grace_s=grace, wait=not no_wait), json_)


def kill(run_ref: RunArg, json_: JsonFlag = False) -> None:
    """Kill a run now: SIGKILL to all its processes (no checkpoint). The run ends `killed`."""
    from clpbert.app.runs import kill_run

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
    from clpbert.app.runs import resume_run

    with open_registry() as reg:
        run = resume_run(_reconciled(reg), run_ref, gpus=gpus)
        if follow:
            run = follow_and_report(reg, run.id, quiet=json_)
        if json_:
            print(json.dumps(run_json(reg, run)))
        else:
            sys.stderr.write(f"run {run.id} resumed ({run.state})\n")
        if follow and run.state != RunState.FINISHED:
            raise typer.Exit(1)


def rm(
    run_refs: Annotated[list[str], typer.Argument(help="Run ids, prefixes or names.")],
    force: Annotated[bool, typer.Option("--force", help="Kill active runs first instead of refusing.")]
    = False,
    yes: YesFlag = False,
) -> None:
    """Remove runs: their registry rows (metrics, evals, attempts, checkpoints) and run dirs."""
    from clpbert.app.run_actions import runs_to_remove
    from clpbert.app.runs import remove_run

    with open_registry() as reg:
        runs = runs_to_remove(_reconciled(reg), run_refs, force)
        names = ", ".join(f"{r.id} ({r.name})" for r in runs)
        confirm(f"Remove {len(runs)} run(s) and their files: {names}?", yes)
        for r in runs:
            remove_run(reg, r.id, force=force)
            sys.stderr.write(f"removed run {r.id}\n")


TAG_HELP = "Also every run with this tag (oldest first), e.g. all runs of a sweep."


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
        refs = runs_with_tag(_reconciled(reg), run_refs, tag)
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
        refs = runs_with_tag(_reconciled(reg), run_refs, tag)
        if not refs:
            raise UserError("export needs runs: name them, or give --tag")
        runs = export_data(reg, refs, what)
    text = write_export(runs, fmt, output)
    if output is None:
        sys.stdout.write(text)
        return
    sys.stderr.write(f"wrote {output}\n")


def register(group: typer.Typer) -> None:
    """Add the management commands to the `runs` group (cli/runs.py EXTENSIONS)."""
    group.command("logs")(logs)
    group.command("stop")(stop)
    group.command("kill")(kill)
    group.command("resume")(resume)
    group.command("rm")(rm)
    group.command("compare")(compare)
    group.command("export")(export)
