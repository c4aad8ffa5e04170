"""Stop/kill requests from the CLI/TUI to a run's supervisor: RUN_DIR/control.json + SIGTERM.

The file says what was asked (stop with a grace period, or kill); the signal wakes the
supervisor. A bare SIGTERM without the file (e.g. `kill <supervisor pid>`) counts as a stop with
the default grace period.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from clpbert.runs.run_dir import CONTROL_FILE, RunDir

DEFAULT_GRACE_S = 30.0


@dataclass(frozen=True)
class ControlRequest:
    action: str
    """`stop` (SIGTERM, grace, SIGKILL) or `kill` (SIGKILL at once)."""
    grace_s: float = DEFAULT_GRACE_S
    time: float = 0.0


def write_request(run_dir: Path, action: str, grace_s: float = DEFAULT_GRACE_S) -> ControlRequest:
    if action not in ("stop", "kill"):
        raise ValueError(action)
    req = ControlRequest(action, float(grace_s), time.time())
    RunDir(run_dir).write_json(CONTROL_FILE, req.__dict__)
    return req


def read_request(run_dir: Path, since: float = 0.0) -> ControlRequest | None:
    """The request written after `since` (older files belong to an earlier attempt)."""
    try:
        data = json.loads((Path(run_dir) / CONTROL_FILE).read_text())
        req = ControlRequest(str(data["action"]), float(data.get("grace_s", DEFAULT_GRACE_S)),
                             float(data.get("time", 0.0)))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return req if req.time >= since else None
