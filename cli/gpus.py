"""`clpbert gpus`: every GPU's readings and which run uses it; no driver is a normal answer.

Module top imports only typer (and the stdlib); the engine is imported inside the command.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Annotated, Any

import typer

HELP = """Show the GPUs (utilization, memory, power, temperature, SM clock) and their processes,
with the clpbert run each process belongs to.

RUNS lists the live clpbert runs using each GPU: recorded at launch, or owning a listed process (the
TUI shows the same).

Without an NVIDIA driver this says why and exits 0 (runs then use the CPU); --json still prints
valid JSON: {"driver": null, "reason": "...", "gpus": []}. --watch refreshes every --interval
seconds (with --json: one JSON object per line). CLPBERT_FAKE_NVML=<scenario> shows fake GPUs.
"""


def _users(snapshot: Any) -> Any:
    """The runs using each GPU and owning each process (clpbert.app.gpu_users, the TUI's answer too)."""
    from clpbert.app.gpus import gpu_users_now

    return gpu_users_now(snapshot)


def _as_json(snapshot: Any, users: Any) -> dict[str, Any]:
    from clpbert.app.gpus import snapshot_with_users

    return snapshot_with_users(snapshot, users)


def _gib(mib: float | None) -> float | None:
    return None if mib is None else mib / 1024


def _table(snapshot: Any, users: Any) -> Any:
    from rich.table import Table

    from clpbert.app.gpus import NA_TEXT, fmt

    table = Table(title=f"driver {snapshot.driver} · {len(snapshot.gpus)} GPU(s)"
                  + (f" · {snapshot.backend}" if snapshot.backend != "nvml" else ""), title_justify="left",
                  box=None, header_style="bold", pad_edge=False)
    for col in ("GPU", "NAME", "UTIL", "MEMORY", "POWER", "TEMP", "SM CLOCK", "RUNS", "PROCESSES"):
        numeric = col in ("GPU", "UTIL", "MEMORY", "POWER", "TEMP", "SM CLOCK")
        table.add_column(col, justify="right" if numeric else "left", no_wrap=numeric)
    for g in snapshot.gpus:
        if g.processes is None:
            procs = f"{NA_TEXT} ({g.na.get('processes', 'not listed')})"
        elif not g.processes:
            procs = "-"
        else:
            procs = ", ".join(f"{p.pid}" + (f" [{users.of_pid(p.pid)}]" if users.of_pid(p.pid) else "")
                              + (f" {p.used_memory_mib:.0f}MiB" if p.used_memory_mib is not None else "")
                              for p in g.processes)
        mem = (f"{fmt(_gib(g.memory_used_mib), digits=1)}/{fmt(_gib(g.memory_total_mib), digits=1)} GiB"
               if g.memory_total_mib is not None else NA_TEXT)
        name = (g.name or NA_TEXT).removeprefix("NVIDIA ")
        table.add_row(str(g.index), name, fmt(g.utilization_pct, "%"), mem, fmt(g.power_w, " W"),
                      fmt(g.temperature_c, "°C"), fmt(g.sm_clock_mhz, " MHz"), ", ".join(users.of(g)) or "-",
                      procs)
    return table


def gpus(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (stdout).")] = False,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Refresh until Ctrl-C.")] = False,
    interval: Annotated[float, typer.Option("--interval", min=0.1, help="Seconds between refreshes.")] = 1.0,
) -> None:
    from clpbert.app.gpus import GpuMonitor

    with GpuMonitor() as monitor:
        snapshot = monitor.snapshot()
        if snapshot.driver is None or not snapshot.gpus:
            if as_json:
                print(json.dumps(_as_json(snapshot, None)))  # no GPU: nobody to attribute
            else:
                sys.stderr.write(f"No GPU available: {snapshot.reason}. clpbert runs use the CPU (gloo).\n")
            return
        from rich.console import Console

        out = Console()
        if not watch:
            users = _users(snapshot)
            if as_json:
                print(json.dumps(_as_json(snapshot, users)))
            else:
                out.print(_table(snapshot, users))
            return
        try:
            if as_json:
                while True:
                    print(json.dumps(_as_json(snapshot, _users(snapshot))), flush=True)
                    time.sleep(interval)
                    snapshot = monitor.snapshot()
            from rich.live import Live

            with Live(_table(snapshot, _users(snapshot)), console=out, refresh_per_second=4) as live:
                while True:
                    time.sleep(interval)
                    snapshot = monitor.snapshot()
                    live.update(_table(snapshot, _users(snapshot)))
        except KeyboardInterrupt:
            sys.stderr.write("\n")


def register(app: typer.Typer) -> None:
    """Add the command to the main app (called by cli/app.py)."""
    app.command("gpus", help=HELP)(gpus)
