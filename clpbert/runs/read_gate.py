"""Open the registry for a read command, reconciling first only when there is something to do.

Every command that shows runs reconciles (clpbert.runs.reconcile): runs whose supervisor died
become `lost`, active Slurm runs ingest their events, and an hourly GPU sample retention pass
runs. Those are writes, and writes need the full SQLAlchemy registry. On most calls there is
nothing to do: no active run on this host has lost its supervisor, no Slurm run is active and the
retention pass is not due. `open_for_reading` checks exactly those three with the light reader
(a few indexed reads, no SQLAlchemy) and opens the full registry and reconciles only when one of
them holds, so `clpbert runs list` stays at interactive speed on a home with 10k runs.
"""

from __future__ import annotations

import time
from typing import Any

from clpbert.registry.reader import RegistryReader, open_reader
from clpbert.runs.lifecycle import ACTIVE_STATES

RETENTION_TASK = "gpu_samples"
"""The `maintenance` row of the GPU sample retention pass (clpbert.registry.retention.TASK)."""


def _retention_due(reader: RegistryReader, now: float) -> bool:
    rows = reader._all("SELECT next_at FROM maintenance WHERE name = ?", [RETENTION_TASK])
    return not rows or rows[0][0] is None or rows[0][0] <= now


def reconcile_needed(reader: RegistryReader, host: str | None = None) -> bool:
    """True when `reconcile` would write: a local active run whose supervisor is gone, an active
    Slurm run to sync, or a retention pass that is due."""
    if _retention_due(reader, time.time()):
        return True
    active = reader.list_runs(state=[str(s) for s in ACTIVE_STATES])
    if not active:
        return False
    import socket

    from clpbert.runs.launch import is_slurm_run

    if any(is_slurm_run(run) for run in active):
        return True
    host = host or socket.gethostname()
    local = [run for run in active if run.host == host]
    if not local:
        return False
    from clpbert.runs.reconcile import _why_gone

    return any(_why_gone(run) is not None for run in local)


def open_for_reading(url: str | None = None, *, reconciled: bool = True) -> Any:
    """A registry to read from (a `RegistryReader` when possible, else a `Registry`), reconciled
    first when `reconciled` and there is something to reconcile. Use it as a context manager."""
    reader = open_reader(url)
    if not reconciled or (isinstance(reader, RegistryReader) and not reconcile_needed(reader)):
        return reader
    from clpbert.registry.queries import Registry
    from clpbert.runs.reconcile import reconcile

    if isinstance(reader, RegistryReader):
        reader.close()
        reader = Registry(url)
    reconcile(reader)
    return reader
