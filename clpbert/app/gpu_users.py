"""Which clpbert runs use each GPU: one answer for `clpbert gpus` and the TUI (GPU screen, new-run
dialog).

A live run on this host uses a GPU when it recorded the GPU at launch (its UUID, else `index:<n>`)
or when NVML lists one of the run's processes (its supervisor and everything under it) on that GPU.
The first rule still holds inside a container, where NVML lists no process; the second catches a
run on a GPU it did not record. Before this module the CLI knew only the second rule and the TUI
only the first, so they could disagree about the same GPU.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from clpbert.gpu.readings import GpuReading, GpuSnapshot, gpu_key

if TYPE_CHECKING:
    from clpbert.registry import Registry, Run


@dataclass
class GpuUsers:
    """The runs using GPUs, by GPU key, and the run owning each process pid."""

    by_key: dict[str, list[str]] = field(default_factory=dict)
    """GPU key (uuid, or `index:<n>`) -> run labels (name, else id), in run order."""
    by_pid: dict[int, str] = field(default_factory=dict)
    """pid -> run label, for every process of this host's live runs."""

    def of(self, gpu: GpuReading) -> list[str]:
        """The runs using `gpu`, whether they recorded its UUID or its index."""
        keys = [gpu_key(gpu.uuid, gpu.index), gpu_key(None, gpu.index)]
        return list(dict.fromkeys(label for k in dict.fromkeys(keys) for label in self.by_key.get(k, [])))

    def state_of(self, gpu: GpuReading) -> str:
        """`busy: RUN, ...` (clpbert runs), `busy: N other process(es)` (anything else), or `free`:
        whether the new-run dialog offers the GPU as free."""
        held_by = self.of(gpu)
        if held_by:
            return "busy: " + ", ".join(held_by)
        foreign = [p.pid for p in gpu.processes or []]
        return f"busy: {len(foreign)} other process(es)" if foreign else "free"

    def of_pid(self, pid: int) -> str | None:
        """The run a process belongs to, or None (not a clpbert run's process)."""
        return self.by_pid.get(pid)

    def _add(self, key: str, label: str) -> None:
        labels = self.by_key.setdefault(key, [])
        if label not in labels:
            labels.append(label)


def _run_pids(run: Run) -> list[int]:
    """The supervisor's pid and its descendants', if that supervisor is alive (same create time)."""
    from clpbert.runs import procs

    if run.supervisor_pid is None or run.supervisor_create_time is None:
        return []
    ident = procs.ProcessId(run.supervisor_pid, run.supervisor_create_time)
    if not ident.alive():
        return []
    return [ident.pid, *(p.pid for p in procs.descendants(ident.pid))]


def gpu_users(reg: Registry, snapshot: GpuSnapshot | None = None) -> GpuUsers:
    """Who uses which GPU now (see the module docstring). Without a snapshot only the recorded GPUs
    count; with one, the runs owning a listed process are added to that GPU."""
    from clpbert.runs.lifecycle import ACTIVE_STATES

    host = socket.gethostname()
    users = GpuUsers()
    for run in reg.list_runs(state=[str(s) for s in ACTIVE_STATES]):
        if run.host != host:
            continue
        label = run.name or run.id
        for g in run.gpus:
            users._add(gpu_key(g.get("uuid"), g.get("index")), label)
        for pid in _run_pids(run):
            users.by_pid[pid] = label
    for gpu in snapshot.gpus if snapshot is not None else []:
        for proc in gpu.processes or []:
            owner = users.by_pid.get(proc.pid)
            if owner is not None:
                users._add(gpu_key(gpu.uuid, gpu.index), owner)
    return users


def gpu_users_now(snapshot: GpuSnapshot | None = None) -> GpuUsers:
    """gpu_users on the default registry, best effort: nobody on any error (a GPU listing must not
    fail because the registry cannot be read)."""
    try:
        from clpbert.registry import open_registry

        with open_registry() as reg:
            return gpu_users(reg, snapshot)
    except Exception:
        return GpuUsers()


def snapshot_with_users(snapshot: GpuSnapshot, users: GpuUsers | None) -> dict[str, Any]:
    """The snapshot as data, each GPU with the runs using it and each process with its run
    (`clpbert gpus --json`)."""
    data = snapshot.to_dict()
    if users is None:
        return data
    for gpu, reading in zip(data["gpus"], snapshot.gpus, strict=True):
        gpu["runs"] = users.of(reading)
        for proc in gpu.get("processes") or []:
            proc["run"] = users.of_pid(proc["pid"])
    return data
