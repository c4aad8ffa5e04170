"""`clpbert runs import PATH...` and `clpbert runs edit RUN`: a run's identity (name, tags, notes) and
run dirs the registry does not know (clpbert.runs.run_dirs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.common import JsonFlag, open_registry
from cli.runs import RunArg

PATHS_HELP = "Run dirs, or folders of run dirs (e.g. a copied CLPBERT_HOME/runs)."


def import_cmd(
    where: Annotated[list[Path], typer.Argument(help=PATHS_HELP, show_default=False)],
    name: Annotated[str | None, typer.Option("--name", help="Name for the run (one run dir only).")] = None,
    json_: JsonFlag = False,
) -> None:
    """Register run dirs copied from another machine or left by a lost registry: config, metrics,
    evaluations, checkpoints, attempts and final state come from the dir; nothing is copied."""
    from cli.output import diag, fmt_num, print_json, print_table
    from cli.runs import run_summary
    from clpbert.app.runs import import_run_dirs

    with open_registry() as reg:
        done = import_run_dirs(reg, list(where), name=name)
    if json_:
        print_json([{**run_summary(i.run), "already_registered": i.already} for i in done])
        return
    rows = []
    for i in done:
        r = i.run
        what = "already registered" if i.already else ("imported (new id)" if i.new_id else "imported")
        rows.append((r.id, r.name, r.task, r.state.value, r.step, fmt_num(r.best_metric_value), what))
    print_table(["ID", "NAME", "TASK", "STATE", "STEP", "BEST", ""], rows, title="runs import")
    diag(f"{sum(not i.already for i in done)} imported, {sum(i.already for i in done)} already registered")


def edit_cmd(
    run_ref: RunArg,
    name: Annotated[str | None, typer.Option("--name", help="New name.")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Add a tag (repeatable).")] = None,
    untag: Annotated[list[str] | None, typer.Option("--untag", help="Remove a tag (repeatable).")] = None,
    notes: Annotated[str | None, typer.Option("--notes", help="Replace the notes ('' clears them).")] = None,
    json_: JsonFlag = False,
) -> None:
    """Rename a run, tag or untag it, or replace its notes (also in RUN_DIR/run.json)."""
    from cli.output import diag, print_json
    from cli.runs import run_summary
    from clpbert.app.runs import edit_run
    from clpbert.errors import UserError

    if name is None and not tag and not untag and notes is None:
        raise UserError("nothing to change: give --name, --tag, --untag or --notes")
    with open_registry() as reg:
        run = edit_run(reg, run_ref, name=name, add_tags=tag or (), remove_tags=untag or (), notes=notes)
    if json_:
        print_json(run_summary(run))
    else:
        diag(f"run {run.id}: name {run.name!r}, tags {', '.join(map(str, run.tags)) or '-'}"
             + (f", notes {run.notes!r}" if run.notes else ""))


def register(group: typer.Typer) -> None:
    """Add `runs import` and `runs edit` to the `runs` group (cli/runs.py EXTENSIONS)."""
    group.command("import")(import_cmd)
    group.command("edit")(edit_cmd)
