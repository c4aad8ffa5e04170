"""The `clpbert` command: the Typer app, its global options, and the user-error edge.

Command groups live in one module each and are listed in COMMANDS with their one-line help; each
module exposes `register(app)` and is imported only when its command runs (LazyGroup), so
`clpbert --help` builds no command module at all. To add a command, write the module and add a line.

Startup must stay fast (`clpbert --help` <= 0.15 s): command modules import only typer and the
standard library at their top; SQLAlchemy, torch, rich, textual... are imported inside commands.
Help is rendered by plain click (`rich_markup_mode=None`), so printing help never imports rich.
Prefer no `from __future__ import annotations` in command modules: Typer must then compile every
string annotation at startup (see `_resolve_annotations`).
"""

import importlib
import os
import sys
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from cli import plain_params

plain_params.install()  # simple option values are coerced without importing pydantic

# name -> (module exposing `register(app)`, the one-line help `clpbert --help` shows).
# Modules are imported only when their command runs, so `clpbert --help` imports none of them;
# tests/cli/test_app.py checks that each line here matches the command's own help.
COMMANDS: dict[str, tuple[str, str]] = {
    "doctor": ("cli.doctor", "Check Python, torch/CUDA, the NVIDIA driver, video/LMDB libraries, the "
                             "registry and disk."),
    "locate": ("cli.locate", "Print the paths clpbert uses (CLPBERT_HOME, registry URL, runs, caches, "
                             "weights, datasets)."),
    "datasets": ("cli.datasets", "Prepared datasets (txt_db + vis_db) in the registry."),
    "ckpts": ("cli.ckpts", "Checkpoints (pretrained, converted, trained weights)."),
    "runs": ("cli.runs", "Runs: list, inspect (and manage) experiments."),
    "config": ("cli.config_cmd", "Run configurations: presets, files, overrides."),
    "download": ("cli.download", "Download pretrained weights (pretrained | bert-base-uncased | "
                                 "grid-feat-r50 | all)."),
    "tui": ("cli.tui", "Open the terminal UI: live runs, GPU utilization, loss curves and per-task eval "
                       "tables."),
    "run": ("cli.run", "Start a run: pretrain, finetune or eval (KIND) of a task."),
    "demo": ("cli.demo", "Generate the synthetic demo dataset (coloured shapes; video QA), train a small "
                         "ClipBERT on it through the real launcher (supervisor -> torchrun, CPU/gloo "
                         "without GPUs), show live progress and finish with the eval table (accuracy "
                         "overall and per question type)."),
    "gpus": ("cli.gpus", "Show the GPUs (utilization, memory, power, temperature, SM clock) and their "
                         "processes, with the clpbert run each process belongs to."),
    "predict": ("cli.predict", "Predict with a trained checkpoint on your own files."),
}
COMMAND_MODULES = [module for module, _ in COMMANDS.values()]


class LazyGroup(TyperGroup):
    """The top-level group: lists commands from COMMANDS, imports a command's module on first use."""

    def list_commands(self, ctx: Any) -> list[str]:
        return [*self.commands, *(name for name in COMMANDS if name not in self.commands)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            self.commands[cmd_name] = load_command(cmd_name)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        limit = formatter.width - 6 - max(len(name) for name in COMMANDS)
        rows = [(name, _shorten(text, limit)) for name, (_, text) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 3, 10)].rsplit(" ", 1)[0] + "..."


def load_command(name: str) -> Any:
    """Import one command module and build its click command (what `clpbert NAME` runs)."""
    import typer.main

    sub = typer.Typer(add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None)
    importlib.import_module(COMMANDS[name][0]).register(sub)
    _resolve_annotations(sub)
    command = typer.main.get_command(sub)
    if isinstance(command, TyperGroup) and name in command.commands:
        return command.commands[name]
    command.name = name
    return command

app = typer.Typer(
    name="clpbert",
    help="ClipBERT video-and-language models and the experiments around them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    cls=LazyGroup,
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
        from clpbert.app.locations import registry_error_line

        message = registry_error_line(e)
        if message is None:
            raise
        sys.stderr.write(f"clpbert: error: {message}\n")
        sys.exit(2)


if __name__ == "__main__":
    main()
