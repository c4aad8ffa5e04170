"""Never two trainers of one run: every process of a previous attempt is gone before anything that
could start a new one (reconcile marking a run `lost`, `runs resume`) goes on.

Right after a supervisor died, reconcile used to SIGTERM the old trainer and return at once: an
immediate `runs resume` then started a second trainer while the first was still writing its
checkpoint (their events interleaved, `latest.json` moved backwards), and the GPUs were released
while the old process still held them. `end_previous_attempt` finds the run's trainer processes
(the recorded torchrun and its descendants, and any process whose environment carries the run's
CLPBERT_RUN_ID, which finds workers torchrun started in other sessions, even re-parented ones),
sends SIGTERM so they checkpoint, waits `grace_s`, SIGKILLs what is left and waits until it has
exited. Callers release GPUs and start attempts only after it returns.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import psutil

from clpbert.runs import procs

DEFAULT_GRACE_S = 20.0
"""Seconds the old trainer gets to write its SIGTERM checkpoint before SIGKILL."""
GRACE_ENV = "CLPBERT_ATTEMPT_GRACE_S"
KILL_WAIT_S = 15.0


def grace_s() -> float:
    try:
        return max(0.0, float(os.environ.get(GRACE_ENV, DEFAULT_GRACE_S)))
    except ValueError:
        return DEFAULT_GRACE_S


def _own_lineage() -> set[int]:
    """This process and its ancestors: never signalled, whatever their environment says."""
    pids = {os.getpid()}
    with contextlib.suppress(psutil.Error):
        pids |= {p.pid for p in psutil.Process().parents()}
    return pids


def trainer_processes(run_dir: Path | str | None, run_id: str) -> list[psutil.Process]:
    """Live processes of the run's trainer (any attempt)."""
    found: dict[int, psutil.Process] = {}
    rec = procs.recorded(Path(run_dir), "trainer") if run_dir else None
    root = rec.process() if rec is not None else None
    if root is not None:
        found[root.pid] = root
        found.update({c.pid: c for c in procs.descendants(root.pid)})
    skip = _own_lineage()
    for p in psutil.process_iter():
        if p.pid in found or p.pid in skip:
            continue
        try:
            if p.environ().get("CLPBERT_RUN_ID") == run_id and p.status() != psutil.STATUS_ZOMBIE:
                found[p.pid] = p
        except (psutil.Error, OSError):
            continue
    for pid in skip:
        found.pop(pid, None)
    return list(found.values())


def end_previous_attempt(run_dir: Path | str | None, run_id: str, grace: float | None = None) -> list[int]:
    """SIGTERM the run's trainer processes, SIGKILL them after `grace` s, return once all are gone.

    Returns the pids that were found alive (empty: nothing was running)."""
    alive = trainer_processes(run_dir, run_id)
    if not alive:
        return []
    pids = [p.pid for p in alive]
    rec = procs.recorded(Path(run_dir), "trainer") if run_dir else None
    with contextlib.suppress(OSError):
        if rec is not None and rec.alive() and os.getpgid(rec.pid) == rec.pid:  # its own group: signal all
            procs.signal_group(rec.pid, signal.SIGTERM)
    procs.signal_processes(alive, signal.SIGTERM)
    left = procs.wait_gone(alive, grace_s() if grace is None else grace)
    if left:
        procs.signal_processes(left, signal.SIGKILL)
        left = procs.wait_gone(left, KILL_WAIT_S)
    procs.reap_children()
    return pids
