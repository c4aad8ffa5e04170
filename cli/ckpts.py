"""`clpbert ckpts list|show|add|rm`: weights files known to the registry.

To add commands from another module (e.g. `inspect`), give it `register(group)` and append its
name to EXTENSIONS; or add `@group.command(...)` functions here.
"""

import importlib
from pathlib import Path
from typing import Annotated

import typer

from cli.common import JsonFlag, YesFlag, confirm, open_reader, open_registry

EXTENSIONS: list[str] = []

group = typer.Typer(help="Checkpoints (pretrained, converted, trained weights).", no_args_is_help=True)

RefArg = Annotated[str, typer.Argument(help="Checkpoint name, id or path (see `clpbert ckpts list`).")]
KINDS = "pretrained, e2e, cnn, bert, finetuned"


@group.command("list")
def list_cmd(
    kind: Annotated[str | None, typer.Option(help=f"Only this kind: {KINDS}.")] = None,
    run: Annotated[str | None, typer.Option(help="Only checkpoints written by this run id.")] = None,
    json_: JsonFlag = False,
) -> None:
    """List registered checkpoints, newest first."""
    from cli.output import fmt_size, fmt_time, print_json, print_table

    with open_reader() as reg:
        run_id = reg.get_run(run).id if run else None
        items = reg.list_checkpoints(kind=kind, run_id=run_id)
    if json_:
        print_json([c.to_dict() for c in items])
        return
    rows = [(c.id, c.name, c.kind, fmt_size(c.size), c.run_id or "-", fmt_time(c.created), c.path)
            for c in items]
    print_table(["ID", "NAME", "KIND", "SIZE", "RUN", "CREATED", "PATH"], rows,
                empty="no checkpoints registered (`clpbert ckpts add PATH` registers one)")


@group.command("show")
def show_cmd(ref: RefArg, json_: JsonFlag = False) -> None:
    """Show one checkpoint."""
    from cli.output import fmt_size, fmt_time, print_fields, print_json

    with open_reader() as reg:
        c = reg.get_checkpoint(ref)
    if json_:
        print_json(c.to_dict())
        return
    print_fields([("id", c.id), ("name", c.name), ("kind", c.kind), ("path", c.path),
                  ("exists", Path(c.path).exists()), ("size", fmt_size(c.size)), ("sha256", c.sha256 or "-"),
                  ("source", c.source or "-"), ("run", c.run_id or "-"), ("step", c.step),
                  ("created", fmt_time(c.created)), ("notes", c.notes or "-")])


@group.command("add")
def add_cmd(
    path: Annotated[Path, typer.Argument(help="The weights file (.pt, .pth, .safetensors, ...).")],
    name: Annotated[str | None, typer.Option(help="Registry name (default: the file's stem).")] = None,
    kind: Annotated[str, typer.Option(help=f"One of: {KINDS}.")] = "finetuned",
    source: Annotated[str, typer.Option(help="Where it came from (URL, paper, run).")] = "",
    notes: Annotated[str, typer.Option(help="Free text.")] = "",
    replace: Annotated[bool, typer.Option("--replace", help="Overwrite an entry of that name.")] = False,
    json_: JsonFlag = False,
) -> None:
    """Register a weights file that loads as a state dict (computes its sha256 and size)."""
    from cli.output import diag, print_json
    from clpbert.app.weights import read_state_dict, sha256_file

    digest, size = sha256_file(path)
    read_state_dict(path)  # random bytes, an empty or a text file: refused before anything is registered
    with open_registry() as reg:
        c = reg.add_checkpoint(path, name=name, kind=kind, source=source, sha256=digest, size=size,
                               notes=notes, replace=replace)
    if json_:
        print_json(c.to_dict())
    else:
        diag(f"registered checkpoint {c.name} (id {c.id}, sha256 {c.sha256[:12]}...)")


@group.command("rm")
def rm_cmd(ref: RefArg, yes: YesFlag = False) -> None:
    """Remove a checkpoint from the registry (the file stays on disk)."""
    from cli.output import diag

    with open_registry() as reg:
        c = reg.get_checkpoint(ref)
        confirm(f"Remove checkpoint {c.name} from the registry?", yes)
        reg.remove_checkpoint(c.id)
    diag(f"removed checkpoint {c.name} (file kept: {c.path})")


@group.command("inspect")
def inspect_cmd(
    ref: Annotated[str, typer.Argument(help="A weights file (or a registered checkpoint name/id).")],
    task: Annotated[str, typer.Option(help="Task whose model to compare against, e.g. msrvtt_qa.")],
    full: Annotated[bool, typer.Option("--all", help="List every key instead of the first 20.")] = False,
    json_: JsonFlag = False,
) -> None:
    """How a weights file loads into a task's model: loaded, missing, unused, mis-shaped keys."""
    from cli.output import print_fields, print_json, print_table
    from clpbert.app.weights import inspect_checkpoint

    path = ref
    if not Path(ref).exists():
        with open_registry() as reg:
            path = reg.get_checkpoint(ref).path
    report = inspect_checkpoint(path, task)
    if json_:
        print_json(report.to_dict())
        return
    c = report.counts
    print_fields([("path", report.path), ("task", report.task), ("format", report.format),
                  ("loaded", c["loaded"]), ("missing", c["missing"]), ("unused", c["unused"]),
                  ("mis-shaped", c["mis_shaped"])])
    limit = None if full else 20
    rows = [(k, "mis-shaped", f"file [{','.join(map(str, f))}] / model [{','.join(map(str, m))}]")
            for k, f, m in report.mis_shaped[:limit]]
    rows += [(k, "missing", "") for k in report.missing[:limit]]
    rows += [(k, "unused", "") for k in report.unused[:limit]]
    if rows:
        print_table(["KEY", "STATUS", "SHAPES"], rows)
    if not full and max(c["missing"], c["unused"], c["mis_shaped"]) > 20:
        typer.echo("(first 20 of each shown; --all lists every key)", err=True)


def register(app: typer.Typer) -> None:
    for module in EXTENSIONS:
        importlib.import_module(module).register(group)
    app.add_typer(group, name="ckpts")
