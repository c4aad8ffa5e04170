"""No run stays `running` after its processes died: mark runs whose supervisor is gone as `lost`.

Called at every CLI/TUI start that touches runs. A run marked `lost` also gets what is left of its
events.jsonl ingested, so its checkpoints and metrics are current without a resume. Cheap: one
indexed query for runs in a non-final state on this host; a process check (pid + create time,
psutil) only for those.

A supervisor is gone when its pid no longer exists, belongs to a newer process (create time
differs), or is a zombie. Its run becomes `lost` with the reason, its GPU reservations are
released, its open attempt is closed, and a trainer that outlived it gets SIGTERM (it
checkpoints and exits; PDEATHSIG normally did that already), then SIGKILL after a grace: the GPUs
are released only once every trainer process is gone (clpbert.runs.attempt_guard). Runs on other
hosts cannot be judged from here and are left alone; Slurm runs follow their events.jsonl instead
(clpbert.runs.slurm_sync).

Being the one call every CLI/TUI start makes, it is also where the registry's periodic GPU sample
retention pass runs (clpbert.registry.retention.maybe_compact): at most once an hour, and
time-boxed to RETENTION_BUDGET_S so it never shows in a command's latency (a pass cut short goes
on a minute later; supervisors run it unboxed when their run ends).
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clpbert.errors import NotFoundError
from clpbert.runs import procs
from clpbert.runs.attempt_guard import end_previous_attempt
from clpbert.runs.lifecycle import ACTIVE, RunState
from clpbert.runs.run_dir import LAUNCH_FILE, RunDir
from clpbert.runs.slurm_sync import sync_slurm_runs

if TYPE_CHECKING:
    from clpbert.registry import Registry, Run

NEVER_STARTED_AFTER_S = 60.0
"""A run with no supervisor pid this long after creation is lost (the launcher died)."""
RETENTION_BUDGET_S = 0.05
"""Seconds of GPU sample compaction a CLI/TUI start may spend (plus one slice), when a pass is due."""


def _launched_at(run: Any) -> float:
    """When the current attempt was asked for (RUN_DIR/launch.json; a resume rewrites it)."""
    try:
        return float(json.loads((Path(run.run_dir) / LAUNCH_FILE).read_text())["created"])
    except (OSError, ValueError, KeyError, TypeError):
        return run.created


def _why_gone(run: Any) -> str | None:
    """Why the run's supervisor is not running (None = it is)."""
    if run.supervisor_pid is None:
        if time.time() - max(run.created, _launched_at(run)) > NEVER_STARTED_AFTER_S:
            return "its supervisor never started (the launching command died?)"
        return None
    ident = procs.ProcessId(run.supervisor_pid, run.supervisor_create_time or 0.0)
    if ident.alive():
        return None
    return f"its supervisor (pid {run.supervisor_pid}) disappeared while the run was {run.state}"


def reconcile_run(reg: Registry, run: Any, host: str | None = None) -> bool:
    """Mark one run `lost` if its supervisor is gone; True when it was marked."""
    host = host or socket.gethostname()
    if str(run.state) not in ACTIVE or run.host != host:
        return False
    why = _why_gone(run)
    if why is None:
        return False
    if not reg.set_run_state(run.id, RunState.LOST, reason=why, only_from=[str(run.state)]):
        return False  # it changed state meanwhile (e.g. the supervisor finished just now)
    # `lost` first, so nothing schedules the run meanwhile; then its trainer gets SIGTERM (it
    # checkpoints) and SIGKILL after a grace, and only once every process is gone are the GPUs free
    ended = end_previous_attempt(run.run_dir, run.id)
    if ended:
        why += f"; its trainer (pid {', '.join(map(str, ended))}) was still running and was stopped"
        reg.update_run(run.id, reason=why)
    _ingest_leftovers(reg, run)
    reg.release_gpus(run.id)
    with contextlib.suppress(NotFoundError):
        attempts = reg.list_attempts(run.id)
        if attempts and attempts[-1].ended is None:
            reg.end_attempt(run.id, RunState.LOST, number=attempts[-1].number, reason=why)
    return True


def _ingest_leftovers(reg: Registry, run: Run) -> None:
    """What the trainer wrote after its supervisor died (checkpoints, the SIGTERM one included,
    metrics, evals): into the registry now, not only at a resume that may never come."""
    if not run.run_dir or not RunDir(run.run_dir).events.exists():
        return
    from clpbert.runs.ingest import Ingestor

    cfg = run.config or {}
    metric = (cfg.get("eval") or {}).get("metric") or None
    with contextlib.suppress(OSError, NotFoundError):
        Ingestor(reg, run.id, run.run_dir, metric=metric, kind=cfg.get("kind") or run.kind).drain()


def reconcile(reg: Registry, host: str | None = None) -> list[str]:
    """Reconcile every active run of this host and sync the active Slurm runs; the ids marked lost."""
    host = host or socket.gethostname()
    marked = []
    active = reg.list_runs(state=list(ACTIVE), with_config=True)  # one read; the Slurm sync needs configs
    for run in active:
        with contextlib.suppress(NotFoundError):
            if reconcile_run(reg, run, host):
                marked.append(run.id)
    marked += [run_id for run_id, state in sync_slurm_runs(reg, active).items() if state == RunState.LOST]
    _retention(reg)
    return marked


def _retention(reg: Registry) -> None:
    """The rate-limited, time-boxed GPU sample retention pass. Best effort: a registry this user
    may only read, or one locked for longer than the busy timeout, is left for the next start."""
    from sqlalchemy.exc import DBAPIError

    from clpbert.registry.retention import maybe_compact

    with contextlib.suppress(DBAPIError):
        maybe_compact(reg, budget_s=RETENTION_BUDGET_S)
