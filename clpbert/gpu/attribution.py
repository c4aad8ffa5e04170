"""Which GPU readings belong to a run, and whether a GPU is taken by someone else.

A run owns the processes under its supervisor (torchrun and its workers). Where the driver lists
processes in our PID namespace, a run's share is the sum over its pids. Inside a container NVML
usually lists nothing (or host pids); then the run's GPUs are reported at device level and the
`reason` says so, instead of pretending the run uses no memory.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from clpbert.gpu.readings import GpuReading, GpuSnapshot

BUSY_MIB_ENV = "CLPBERT_GPU_BUSY_MIB"
DEFAULT_BUSY_MIB = 1024.0
"""Memory in use, with no process listed, above which an unreserved GPU counts as taken."""

DEVICE_LEVEL_REASON = ("NVML lists no process of this run (a container's PID namespace hides them); "
                       "showing device-level readings of the run's GPUs")


@dataclass
class RunGpuUsage:
    """One of a run's GPUs: its device readings plus what the run's own processes use."""

    gpu: GpuReading
    mode: str
    """`process` (summed over the run's pids) or `device` (whole GPU, see `reason`)."""
    memory_used_mib: float | None
    pids: list[int] = field(default_factory=list)
    reason: str | None = None


def run_usage(snapshot: GpuSnapshot, gpu_ids: Iterable[str | int],
              run_pids: Iterable[int]) -> list[RunGpuUsage]:
    """Readings of the run's GPUs (UUIDs or indices), attributed through the run's pids."""
    pids = set(run_pids)
    out = []
    for gid in gpu_ids:
        gpu = snapshot.by_uuid(gid) if isinstance(gid, str) and gid.startswith(("GPU-", "MIG-")) \
            else snapshot.by_index(int(gid))
        if gpu is None:
            continue
        mine = [p for p in (gpu.processes or []) if p.pid in pids]
        if mine:
            known = [p.used_memory_mib for p in mine if p.used_memory_mib is not None]
            out.append(RunGpuUsage(gpu=gpu, mode="process", pids=[p.pid for p in mine],
                                   memory_used_mib=sum(known) if known else None))
        else:
            why = gpu.na.get("processes") if gpu.processes is None else None
            out.append(RunGpuUsage(gpu=gpu, mode="device", memory_used_mib=gpu.memory_used_mib,
                                   reason=f"processes not available ({why}); device-level readings"
                                   if why else DEVICE_LEVEL_REASON))
    return out


def busy_threshold_mib() -> float:
    try:
        return float(os.environ.get(BUSY_MIB_ENV, DEFAULT_BUSY_MIB))
    except ValueError:
        return DEFAULT_BUSY_MIB


def occupancy(gpu: GpuReading, own_pids: Iterable[int] = ()) -> str | None:
    """Why the GPU is taken by something other than `own_pids`, or None when it is free."""
    own = set(own_pids)
    foreign = [p for p in (gpu.processes or []) if p.pid not in own]
    if foreign:
        p = foreign[0]
        mem = f", {p.used_memory_mib:.0f} MiB" if p.used_memory_mib is not None else ""
        more = f" and {len(foreign) - 1} more" if len(foreign) > 1 else ""
        return f"GPU {gpu.index} runs pid {p.pid}{mem}{more}"
    if not gpu.processes and gpu.memory_used_mib is not None and gpu.memory_used_mib > busy_threshold_mib():
        return (f"GPU {gpu.index} has {gpu.memory_used_mib:.0f} MiB in use by processes NVML does not "
                f"list (another container?)")
    return None
