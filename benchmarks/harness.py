"""What the bench modules share with `python -m benchmarks`: the result row, and running a bench's
existing `main()` to get its JSON summary.

A row is one comparison measured in one run:

    {"bench": "registry", "name": "metric ingest: add_metrics vs raw sqlite3", "unit": "points/s",
     "baseline": 310000.0, "candidate": 240000.0, "better": "higher", "ratio": 0.77,
     "goal": ">= 100,000 points/s", "met": true, "note": "..."}

`ratio` is always "times better than the baseline" (candidate/baseline when higher is better,
baseline/candidate when lower is better), so > 1 means the candidate wins. A goal is either a
minimum ratio (`goal_ratio`) or a bound on the candidate's value (`goal_value`, in the row's unit
and direction). A part the machine cannot run is a row with `skipped` set to the reason.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from collections.abc import Callable
from typing import Any


def fmt_value(value: float | None, unit: str) -> str:
    """`0.0123, "s"` -> `12.3 ms`; `250000, "points/s"` -> `250,000 points/s`."""
    if value is None:
        return "-"
    if unit == "s":
        return f"{value * 1000:.3g} ms" if abs(value) < 1 else f"{value:.3g} s"
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return f"{text} {unit}".strip()


def row(bench: str, name: str, unit: str, baseline: float | None, candidate: float | None, *,
        better: str = "higher", goal_ratio: float | None = None, goal_value: float | None = None,
        note: str = "") -> dict[str, Any]:
    """One comparison, with its ratio and whether its goal is met (None: no goal or no number)."""
    if better not in ("higher", "lower"):
        raise ValueError(f"better must be 'higher' or 'lower', not {better!r}")
    ratio = None
    if baseline and candidate:
        ratio = candidate / baseline if better == "higher" else baseline / candidate
    goal, met = None, None
    if goal_ratio is not None:
        goal = f"ratio >= {goal_ratio:g}"
        met = None if ratio is None else ratio >= goal_ratio
    elif goal_value is not None:
        goal = f"{'>=' if better == 'higher' else '<='} {fmt_value(goal_value, unit)}"
        if candidate is not None:
            met = candidate >= goal_value if better == "higher" else candidate <= goal_value
    return {"bench": bench, "name": name, "unit": unit, "baseline": baseline, "candidate": candidate,
            "better": better, "ratio": ratio, "goal": goal, "met": met, "note": note}


def skipped(bench: str, name: str, reason: str) -> dict[str, Any]:
    """A part this machine cannot run (e.g. the GPU shape without CUDA)."""
    return {"bench": bench, "name": name, "skipped": reason}


class _Tee(io.StringIO):
    """Keeps what a bench prints and passes it on to stderr (progress stays visible)."""

    def write(self, s: str) -> int:
        sys.stderr.write(s)
        return super().write(s)


def main_summary(main: Callable[..., Any], argv: list[str], *, via_sys_argv: bool = False) -> dict[str, Any]:
    """Run a bench's `main` with `argv` and return the last JSON object it printed (its summary).

    `via_sys_argv` is for mains that parse `sys.argv` instead of taking argv.
    """
    out = _Tee()
    saved = sys.argv
    try:
        with contextlib.redirect_stdout(out):
            if via_sys_argv:
                sys.argv = [saved[0] if saved else "bench", *argv]
                main()
            else:
                main(argv)
    finally:
        sys.argv = saved
    for line in reversed(out.getvalue().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                found = json.loads(line)
                if isinstance(found, dict):
                    return found
    raise RuntimeError(f"{getattr(main, '__module__', 'bench')}: printed no JSON summary line")
