"""Small pieces every command module shares: the `--json` / `--yes` options, opening the registry,
confirming destructive actions. Only typer and the standard library at module top."""

import sys
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from clpbert.app.registry import Registry

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON on stdout (data only).")]
YesFlag = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


def open_registry() -> "Registry":
    """The registry of $CLPBERT_DB_URL / CLPBERT_HOME (SQLAlchemy is imported only now)."""
    from clpbert.app.registry import open_registry as _open

    return _open()


def open_reader(reconciled: bool = False) -> "Registry":
    """The registry for a read-only command: the light sqlite3 reader when the registry allows it
    (no SQLAlchemy import), else the full registry; `reconciled` reconciles runs first when needed
    (clpbert.runs.read_gate). It answers every read method of `Registry`, none of its writes."""
    from clpbert.app.registry import open_for_reading

    return open_for_reading(reconciled=reconciled)


def confirm(question: str, yes: bool) -> None:
    """Ask on a terminal; without one, require --yes (a UserError names it)."""
    from clpbert.errors import UserError

    if yes:
        return
    if not sys.stdin.isatty():
        raise UserError(f"{question.rstrip('?')}: refusing without confirmation; pass --yes")
    if not typer.confirm(question, default=False, err=True):
        raise typer.Exit(1)
