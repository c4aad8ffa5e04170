"""`clpbert locate [NAME]`: where clpbert keeps things (for scripts: `cd "$(clpbert locate runs)"`)."""

from typing import Annotated

import typer


def locate(
    name: Annotated[str | None, typer.Argument(
        help="One of: home, db, runs, cache, pretrained, datasets. Omitted: all, NAME<TAB>PATH.")] = None,
) -> None:
    """Print the paths clpbert uses (CLPBERT_HOME, registry URL, runs, caches, weights, datasets)."""
    from clpbert.app.locations import locations
    from clpbert.errors import UserError

    where = locations()
    if name is None:
        for key, value in where.items():
            typer.echo(f"{key}\t{value}")
        return
    if name not in where:
        raise UserError(f"unknown location {name!r}; one of: {', '.join(where)}")
    typer.echo(str(where[name]))


def register(app: typer.Typer) -> None:
    app.command("locate")(locate)
