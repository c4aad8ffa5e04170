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

Without an NVIDIA driver this says why and exits 0 (runs then use the CPU); --json still prints
valid JSON: {"driver": null, "reason": "...", "gpus": []}. --watch refreshes every --interval
seconds (with --json: one JSON object per line). CLPBERT_FAKE_NVML=<scenario> shows fake GPUs.
"""


def _owners() -> dict[int, str]:
    """pid -> run name/id for processes of this host's live runs (best effort: {} on any error)."""
    try:
        from clpbert.registry import open_registry
        from clpbert.runs.service import run_pids

        with open_registry() as reg:
            return run_pids(reg)
    except Exception:
        return {}


def _as_json(snapshot: Any, owners: dict[int, str]) -> dict[str, Any]:
    data = snapshot.to_dict()
    for gpu in data["gpus"]:
        for proc in gpu.get("processes") or []:
            proc["run"] = owners.get(proc["pid"])
    return data


def _gib(mib: float | None) -> float | None:
    return None if mib is None else mib / 1024


def _table(snapshot: Any, owners: dict[int, str]) -> Any:
    from rich.table import Table

    from clpbert.gpu.readings import NA_TEXT, fmt

    table = Table(title=f"driver {snapshot.driver} · {len(snapshot.gpus)} GPU(s)"
                  + (f" · {snapshot.backend}" if snapshot.backend != "nvml" else ""), title_justify="left",
                  box=None, header_style="bold", pad_edge=False)
    for col in ("GPU", "NAME", "UTIL", "MEMORY", "POWER", "TEMP", "SM CLOCK", "PROCESSES"):
        numeric = col in ("GPU", "UTIL", "MEMORY", "POWER", "TEMP", "SM CLOCK")
        table.add_column(col, justify="right" if numeric else "left", no_wrap=numeric)
    for g in snapshot.gpus:
        if g.processes is None:
            procs = f"{NA_TEXT} ({g.na.get('processes', 'not listed')})"
        elif not g.processes:
            procs = "-"
        else:
            procs = ", ".join(f"{p.pid}" + (f" [{owners[p.pid]}]" if p.pid in owners else "")
                              + (f" {p.used_memory_mib:.0f}MiB" if p.used_memory_mib is not None else "")
                              for p in g.processes)
        mem = (f"{fmt(_gib(g.memory_used_mib), digits=1)}/{fmt(_gib(g.memory_total_mib), digits=1)} GiB"
               if g.memory_total_mib is not None else NA_TEXT)
        name = (g.name or NA_TEXT).removeprefix("NVIDIA ")
        table.add_row(str(g.index), name, fmt(g.utilization_pct, "%"), mem, fmt(g.power_w, " W"),
                      fmt(g.temperature_c, "°C"), fmt(g.sm_clock_mhz, " MHz"), procs)
    return table


def gpus(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (stdout).")] = False,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Refresh until Ctrl-C.")] = False,
    interval: Annotated[float, typer.Option("--interval", min=0.1, help="Seconds between refreshes.")] = 1.0,
) -> None:
    from clpbert.gpu.nvml import GpuMonitor

    with GpuMonitor() as monitor:
        snapshot = monitor.snapshot()
        if snapshot.driver is None or not snapshot.gpus:
            if as_json:
                print(json.dumps(_as_json(snapshot, {})))
            else:
                sys.stderr.write(f"No GPU available: {snapshot.reason}. clpbert runs use the CPU (gloo).\n")
            return
        from rich.console import Console

        out = Console()
        if not watch:
            owners = _owners()
            if as_json:
                print(json.dumps(_as_json(snapshot, owners)))
            else:
                out.print(_table(snapshot, owners))
            return
        try:
            if as_json:
                while True:
                    print(json.dumps(_as_json(snapshot, _owners())), flush=True)
                    time.sleep(interval)
                    snapshot = monitor.snapshot()
            from rich.live import Live

            with Live(_table(snapshot, _owners()), console=out, refresh_per_second=4) as live:
                while True:
                    time.sleep(interval)
                    snapshot = monitor.snapshot()
                    live.update(_table(snapshot, _owners()))
        except KeyboardInterrupt:
            sys.stderr.write("\n")


def register(app: typer.Typer) -> None:
    """Add the command to the main app (called by cli/app.py)."""
    app.command("gpus", help=HELP)(gpus)
