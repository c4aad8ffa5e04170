"""Who gets which GPU: the reservation ledger in the registry plus what NVML shows, in FIFO order.

A queued run's supervisor calls `try_acquire` about once a second. The run gets its GPUs when

1. no older queued run on this host is waiting for any of them (strict FIFO by creation time;
   an older `auto:N` run blocks every younger GPU run, so it cannot be starved),
2. NVML shows no foreign process on them (see clpbert.gpu.attribution.occupancy), and
3. the ledger reservation (`Registry.reserve_gpus`, all-or-nothing, a primary key per GPU)
   succeeds — so two supervisors racing can never book the same GPU.

Reservations held by runs that already ended (or whose supervisor vanished) are released on
the way, so a crash never leaves a GPU booked forever. CPU runs never queue.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clpbert.gpu.attribution import occupancy
from clpbert.gpu.readings import GpuSnapshot
from clpbert.runs.gpu_spec import GpuRef, GpuRequest
from clpbert.runs.run_dir import LAUNCH_FILE, RunDir

if TYPE_CHECKING:
    from clpbert.registry import Registry


@dataclass
class Decision:
    """The outcome of one try: the GPUs taken, or why the run still waits."""

    gpus: list[GpuRef] | None
    waiting_for: str | None = None


def request_of_run_dir(run_dir: str | Path) -> GpuRequest | None:
    """The GPU request a queued run recorded in RUN_DIR/launch.json (None if unreadable)."""
    data = RunDir(run_dir).read_json(LAUNCH_FILE)
    if data is None:
        return None
    return request_from_dict(data.get("gpu_request") or {})


def request_to_dict(req: GpuRequest) -> dict[str, Any]:
    return {"gpus": [g.to_dict() for g in req.gpus], "auto": req.auto}


def request_from_dict(data: dict[str, Any]) -> GpuRequest:
    return GpuRequest(gpus=tuple(GpuRef.from_dict(g) for g in data.get("gpus", [])),
                      auto=int(data.get("auto", 0)))


def _release_stale(reg: Registry, holders: dict[str, str]) -> bool:
    """Release reservations of runs that are no longer active; True if any was released."""
    from clpbert.errors import NotFoundError
    from clpbert.runs.lifecycle import ACTIVE_STATES

    released = False
    for run_id in set(holders.values()):
        try:
            holder = reg.get_run(run_id)
        except NotFoundError:
            continue
        if holder.state not in ACTIVE_STATES:
            reg.release_gpus(run_id)
            released = True
    return released


def try_acquire(reg: Registry, run: Any, request: GpuRequest, snapshot: GpuSnapshot,
                host: str | None = None) -> Decision:
    """One scheduling attempt for a queued run (see the module docstring)."""
    from clpbert.registry import GpusBusyError
    from clpbert.runs.lifecycle import RunState

    host = host or socket.gethostname()
    older = [r for r in reg.list_runs(state=[RunState.QUEUED.value], order="created")
             if r.host == host and (r.created, r.id) < (run.created, run.id)]
    held = {res.gpu_key: res.run_id for res in reg.reserved_gpus(host=host) if res.run_id != run.id}
    if held and _release_stale(reg, held):
        held = {res.gpu_key: res.run_id for res in reg.reserved_gpus(host=host) if res.run_id != run.id}

    blocked: set[str] = set()
    for other in older:
        req = request_of_run_dir(other.run_dir)
        if req is None or req.cpu:
            continue
        if req.auto:
            return Decision(None, f"run {other.id} (queued earlier, wants {req.describe()} GPUs)")
        blocked |= {g.key for g in req.gpus}

    if request.auto:
        free = [GpuRef.of(g) for g in snapshot.gpus
                if GpuRef.of(g).key not in held and GpuRef.of(g).key not in blocked and occupancy(g) is None]
        if len(free) < request.auto:
            return Decision(None, f"{request.auto} free GPU(s) ({len(free)} free now)")
        wanted = free[:request.auto]
    else:
        wanted = list(request.gpus)
        for ref in wanted:
            if ref.key in blocked:
                return Decision(None, f"GPU {ref.index} (run queued earlier wants it)")
            if ref.key in held:
                return Decision(None, f"GPU {ref.index} (reserved by run {held[ref.key]})")
            reading = snapshot.by_uuid(ref.uuid) if ref.uuid else snapshot.by_index(ref.index)
            if reading is None:
                return Decision(None, f"GPU {ref.index} (not visible to NVML: {snapshot.reason or 'gone'})")
            busy = occupancy(reading)
            if busy:
                return Decision(None, busy)
    try:
        reg.reserve_gpus(run.id, [g.to_dict() for g in wanted], host=host)
    except GpusBusyError as e:
        return Decision(None, f"GPUs {', '.join(sorted(e.holders))} (just reserved by another run)")
    return Decision(wanted)
