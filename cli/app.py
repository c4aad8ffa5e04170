"""The `clpbert` command: the Typer app, its global options, and the user-error edge.

Command groups live in one module each and are listed in COMMAND_MODULES; each module exposes
`register(app)`. To add a group, write the module and append its name to the list.

Startup must stay fast (`clpbert --help` <= 0.15 s): command modules import only typer and the
standard library at their top; SQLAlchemy, torch, rich, textual... are imported inside commands.
Help is rendered by plain click (`rich_markup_mode=None`), so printing help never imports rich.
Prefer no `from __future__ import annotations` in command modules: Typer must then compile every
string annotation at startup (see `_resolve_annotations`).
"""

import importlib
import os
import sys
from typing import Annotated

import typer

COMMAND_MODULES = [
    "cli.doctor",
    "cli.locate",
    "cli.datasets",
    "cli.ckpts",
    "cli.runs",
    "cli.config_cmd",
    "cli.download",
    "cli.tui",
    "cli.run",
    "cli.demo",
    "cli.gpus",
]

app = typer.Typer(
    name="clpbert",
    help="ClipBERT video-and-language models and the experiments around them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from clpbert import __version__

        typer.echo(f"clpbert {__version__}")
        raise typer.Exit()


@app.callback()
def _global(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
    db: Annotated[str | None, typer.Option("--db", metavar="URL",
                                           help="Registry URL (sets CLPBERT_DB_URL), e.g. "
                                                "postgresql+psycopg://user@host/clpbert.")] = None,
    home: Annotated[str | None, typer.Option("--home", metavar="PATH",
                                             help="Data folder (sets CLPBERT_HOME): registry, runs, "
                                                  "caches, weights, datasets.")] = None,
) -> None:
    """ClipBERT video-and-language models and the experiments around them."""
    if home:
        os.environ["CLPBERT_HOME"] = os.path.abspath(os.path.expanduser(home))
    if db:
        os.environ["CLPBERT_DB_URL"] = db


for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def _resolve_annotations(typer_app: typer.Typer) -> None:
    """Evaluate string annotations (`from __future__ import annotations`) once per command.

    Typer resolves each callback's type hints twice while building the click command, and every
    string annotation costs a compile(); resolving them once here halves that part of startup.
    Modules without the __future__ import cost nothing here.
    """
    import typing

    callbacks = [c.callback for c in typer_app.registered_commands]
    if typer_app.registered_callback is not None:
        callbacks.append(typer_app.registered_callback.callback)
    for fn in callbacks:
        ann = getattr(fn, "__annotations__", None)
        if ann and any(isinstance(v, str) for v in ann.values()):
            fn.__annotations__ = typing.get_type_hints(fn, include_extras=True)
    for group_info in typer_app.registered_groups:
        if group_info.typer_instance is not None:
            _resolve_annotations(group_info.typer_instance)


_resolve_annotations(app)


def _registry_error(exc: BaseException) -> str | None:
    """A one-line message for a database error, or None if `exc` is not one."""
    if "sqlalchemy" not in sys.modules:
        return None
    from sqlalchemy.exc import DatabaseError, OperationalError

    if not isinstance(exc, (OperationalError, DatabaseError)):
        return None
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    from clpbert import paths

    first = lines[0] if lines else type(orig).__name__
    return (f"cannot open registry {_hide_password(paths.db_url())}: {first} "
            "(check CLPBERT_DB_URL/--db, or move a damaged registry.db away)")


def _hide_password(url: str) -> str:
    head, sep, tail = url.partition("@")
    if sep and ":" in head.split("//", 1)[-1]:
        scheme, _, cred = head.partition("//")
        return f"{scheme}//{cred.split(':', 1)[0]}:***@{tail}"
    return url


def main(argv: list[str] | None = None) -> None:
    """Console-script entry: run the app; user errors become one line on stderr and exit 2."""
    from clpbert.errors import UserError

    try:
        app(args=argv, prog_name="clpbert")
    except UserError as e:
        sys.stderr.write(f"clpbert: error: {e}\n")
        sys.exit(getattr(e, "exit_code", 2))
    except KeyboardInterrupt:
        sys.stderr.write("clpbert: interrupted\n")
        sys.exit(130)
    except Exception as e:
        message = _registry_error(e)
        if message is None:
            raise
        sys.stderr.write(f"clpbert: error: {message}\n")
        sys.exit(2)


if __name__ == "__main__":
    main()
