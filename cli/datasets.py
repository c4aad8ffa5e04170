"""`clpbert datasets list|show|rm` (+ prepare/verify from the modules in EXTENSIONS).

To add commands to this group from another module, give it `register(group)` and append its name
to EXTENSIONS; or add `@group.command(...)` functions here.
"""

import importlib
from typing import Annotated

import typer

from cli.common import JsonFlag, YesFlag, confirm, open_reader, open_registry

EXTENSIONS = ["cli.datasets_prepare"]

group = typer.Typer(help="Prepared datasets (txt_db + vis_db) in the registry.", no_args_is_help=True)

NameArg = Annotated[str, typer.Argument(help="Dataset name (see `clpbert datasets list`).")]


@group.command("list")
def list_cmd(
    task: Annotated[str | None, typer.Option(help="Only datasets for this task.")] = None,
    json_: JsonFlag = False,
) -> None:
    """List registered datasets."""
    from cli.output import fmt_time, print_json, print_table

    with open_reader() as reg:
        items = reg.list_datasets(task=task)
    if json_:
        print_json([d.to_dict() for d in items])
        return
    rows = [(d.name, d.task, d.format, ", ".join(f"{k}={v}" for k, v in d.splits.items()),
             fmt_time(d.created)) for d in items]
    print_table(["NAME", "TASK", "FORMAT", "SPLITS", "CREATED"], rows,
                empty="no datasets registered (`clpbert datasets prepare` adds one)")


@group.command("show")
def show_cmd(name: NameArg, json_: JsonFlag = False) -> None:
    """Show one dataset: paths, splits, fingerprint."""
    from cli.output import fmt_time, print_fields, print_json

    with open_reader() as reg:
        d = reg.get_dataset(name)
    if json_:
        print_json(d.to_dict())
        return
    print_fields([("name", d.name), ("task", d.task), ("format", d.format), ("txt_db", d.txt_db),
                  ("vis_db", d.vis_db), ("tokenizer", d.tokenizer or "-"),
                  ("splits", ", ".join(f"{k}={v}" for k, v in d.splits.items()) or "-"),
                  ("fingerprint", d.fingerprint or "-"), ("created", fmt_time(d.created))])


@group.command("rm")
def rm_cmd(name: NameArg, yes: YesFlag = False) -> None:
    """Remove a dataset from the registry (its files stay on disk)."""
    from cli.output import diag

    with open_registry() as reg:
        d = reg.get_dataset(name)
        confirm(f"Remove dataset {d.name} from the registry?", yes)
        reg.remove_dataset(d.name)
    diag(f"removed dataset {d.name} (files under {d.txt_db or '-'} were kept)")


def register(app: typer.Typer) -> None:
    for module in EXTENSIONS:
        importlib.import_module(module).register(group)
    app.add_typer(group, name="datasets")
