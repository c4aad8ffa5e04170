"""Turning registry values into short cell text: ages, ETAs, numbers, NA.

Every formatter takes `None` (unknown) and returns "N/A" or "-" rather than raising, so a run that
has not logged a metric yet, or a GPU whose driver hides a reading, renders like any other row.
"""

from __future__ import annotations

import math
from pathlib import Path

from clpbert.gpu.readings import NA_TEXT
from clpbert.runs import lifecycle
from clpbert.runs.lifecycle import Action, RunState

NA = NA_TEXT

STATE_STYLES: dict[str, str] = {
    RunState.QUEUED: "bold yellow",
    RunState.STARTING: "bold cyan",
    RunState.RUNNING: "bold green",
    RunState.STOPPING: "yellow",
    RunState.FINISHED: "blue",
    RunState.FAILED: "bold red",
    RunState.KILLED: "magenta",
    RunState.LOST: "red",
}
"""Colour per run state; ANSI names so both light and dark themes keep them readable."""

# The lifecycle's sets, for screens and widgets (which do not import the runs package themselves).
LIVE_STATES = lifecycle.ACTIVE
ALL_STATES = lifecycle.ALL
STOPPABLE_STATES = lifecycle.ACTIONS[Action.STOP]
KILLABLE_STATES = lifecycle.ACTIONS[Action.KILL]
RESUMABLE_STATES = lifecycle.ACTIONS[Action.RESUME]
"""A finished run is not resumed (start a new one from its checkpoint), an active one is running."""
STATE_FILTER_CYCLE: tuple[tuple[str, ...], ...] = (
    (), LIVE_STATES, (RunState.RUNNING,), (RunState.FAILED, RunState.LOST, RunState.KILLED),
    (RunState.FINISHED,))
"""What the runs screen's state-filter key steps through: all, live, running, unsuccessful, finished."""


def state_style(state: str) -> str:
    return STATE_STYLES.get(state, "")


def short_path(path: str) -> str:
    """A path under CLPBERT_HOME as `$CLPBERT_HOME/...`: shorter, and the same on every machine."""
    if not path:
        return ""
    from clpbert import paths

    try:
        return "$CLPBERT_HOME/" + Path(path).relative_to(paths.home()).as_posix()
    except ValueError:
        return path


def duration(seconds: float | None) -> str:
    """`3d4h`, `2h05m`, `4m10s`, `12s`: two units at most, so a column stays narrow."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    s = max(0, int(seconds))
    days, rem = divmod(s, 86400)
    hours, rem = divmod(rem, 3600)
    minutes, secs = divmod(rem, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def number(value: float | None, digits: int = 4) -> str:
    """Metric values: 4 significant digits, scientific for tiny/huge (learning rates, big losses)."""
    if value is None:
        return "-"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e6):
        return f"{value:.{max(digits - 2, 1)}e}"
    return f"{value:.{digits}g}"


def percent(value: float | None) -> str:
    return NA if value is None else f"{value:.0f}%"


def mib(value_bytes: int | None) -> str:
    return NA if value_bytes is None else f"{value_bytes / 2**20:,.0f}MiB"


def progress(step: int | None, total: int | None) -> str:
    if step is None:
        return "-"
    if not total:
        return f"{step}"
    return f"{step}/{total} {100 * step / total:3.0f}%"


def eta(step: int | None, total: int | None, started_at: float | None, now: float) -> float | None:
    """Seconds left at the mean pace so far; None until a step has been taken."""
    if not step or not total or started_at is None or step >= total:
        return None
    elapsed = now - started_at
    if elapsed <= 0:
        return None
    return elapsed / step * (total - step)
