"""`clpbert tui`: the Textual app over the registry (runs, run detail, datasets, checkpoints, GPUs).

Module top imports only typer (and the stdlib): Textual, SQLAlchemy and the engine are imported
inside the command, so `clpbert --help` stays fast.
"""

from __future__ import annotations

from typing import Annotated

import typer

HELP = """Open the terminal UI: live runs, GPU utilization, loss curves and per-task eval tables.

Keys: F1 or ? lists every key of the current screen; ctrl+p opens the command palette; ctrl+q
quits. Screens: 1 runs, 2 datasets, 3 checkpoints, 4 GPUs. Runs whose supervisor vanished are
marked lost first (as every CLI start does).
"""

RUN_HELP = "Open this run's detail screen (id, prefix or name)."


def tui(
    run: Annotated[str | None, typer.Option("--run", help=RUN_HELP)] = None,
    refresh: Annotated[float, typer.Option("--refresh", min=0.2, help="Seconds between live refreshes.")]
    = 1.0,
    theme: Annotated[str, typer.Option("--theme", help="dark | light, or any Textual theme name.")] = "dark",
) -> None:
    from clpbert.app.runs import reconcile
    from clpbert.errors import UserError
    from tui.app import ClpbertApp
    from tui.data import TuiData

    data = TuiData.open()
    try:
        reconcile(data.registry)
        if run is not None:
            run = data.registry.get_run(run).id
        app = ClpbertApp(data, refresh_s=refresh, start_run=run)
        name = {"dark": "textual-dark", "light": "textual-light"}.get(theme, theme)
        if name not in app.available_themes:
            raise UserError(f"unknown theme {theme!r}; use dark, light or one of: "
                            + ", ".join(sorted(app.available_themes)))
        app.theme = name
        app.run()
    finally:
        data.close()


def register(app: typer.Typer) -> None:
    """Add the command to the main app (called by cli/app.py)."""
    app.command("tui", help=HELP)(tui)
