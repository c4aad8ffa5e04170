"""Process mechanics for supervision: identities that survive pid reuse, trees, signals.

A process is identified by (pid, create time): a pid alone can be reused by an unrelated process
after the original died, so "is the supervisor alive?" always compares both.

The supervisor makes itself a *child subreaper* (Linux prctl): torchrun starts its workers in new
sessions, and if torchrun dies first they would be re-parented to init and escape; as a subreaper
the supervisor inherits them instead, so "kill every descendant" really reaches every process
of the run.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from clpbert.runs.run_dir import PROCESSES_FILE, RunDir

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
CREATE_TIME_TOLERANCE_S = 0.05


@dataclass(frozen=True)
class ProcessId:
    pid: int
    create_time: float

    @classmethod
    def of(cls, pid: int) -> ProcessId | None:
        try:
            return cls(pid, psutil.Process(pid).create_time())
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return None

    def process(self) -> psutil.Process | None:
        """The live process, or None if it exited (or the pid now belongs to someone else)."""
        try:
            p = psutil.Process(self.pid)
            if abs(p.create_time() - self.create_time) > CREATE_TIME_TOLERANCE_S:
                return None
            if p.status() == psutil.STATUS_ZOMBIE:
                return None
            return p
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return None

    def alive(self) -> bool:
        return self.process() is not None

    def to_dict(self) -> dict[str, Any]:
        return {"pid": self.pid, "create_time": self.create_time}


def _libc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c") or "libc.so.6"
    try:
        return ctypes.CDLL(name, use_errno=True)
    except OSError:
        return None


_LIBC = _libc()


def become_subreaper() -> bool:
    """Orphaned descendants are re-parented to this process (Linux); False where unsupported."""
    return bool(_LIBC is not None and _LIBC.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)


def die_with_parent() -> None:
    """preexec_fn: the child gets SIGTERM when its parent (the supervisor) dies (Linux only).

    Only calls a function already loaded in the parent: safe between fork and exec.
    """
    if _LIBC is not None:
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return []


def signal_group(pgid: int, sig: int) -> bool:
    """Signal a whole process group; False when it no longer exists."""
    try:
        os.killpg(pgid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def signal_processes(procs: Iterable[psutil.Process], sig: int) -> None:
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            p.send_signal(sig)


def kill_tree(root_pid: int, include_root: bool = True, extra: Iterable[psutil.Process] = ()) -> None:
    """SIGKILL a process, its process group and every descendant (children first cannot escape:
    they are collected before anything is killed)."""
    procs = descendants(root_pid) + list(extra)
    if include_root:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            procs.append(psutil.Process(root_pid))
        signal_group(root_pid, signal.SIGKILL)
    signal_processes(procs, signal.SIGKILL)


def reap_children() -> None:
    """Collect exit statuses of adopted orphans (a subreaper must, or they stay zombies)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def wait_gone(procs: Iterable[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait until the processes exit; the ones still alive after `timeout`."""
    _, alive = psutil.wait_procs(list(procs), timeout=timeout)
    return alive


def signal_name(sig: int | None) -> str:
    if sig is None:
        return "?"
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


# ------------------------------------------------------------------------------------------
# RUN_DIR/processes.json: who to signal when the supervisor itself is gone
# ------------------------------------------------------------------------------------------


def write_processes(run_dir: Path, **entries: ProcessId | int | None) -> None:
    """Record the supervisor/trainer identities (atomic), so `stop`, `kill` and reconcile can
    reach a trainer whose supervisor died."""
    data = read_processes_raw(run_dir)
    for key, value in entries.items():
        data[key] = value.to_dict() if isinstance(value, ProcessId) else value
    data["updated"] = time.time()
    RunDir(run_dir).write_json(PROCESSES_FILE, data)


def read_processes_raw(run_dir: Path) -> dict[str, Any]:
    data = RunDir(run_dir).read_json(PROCESSES_FILE)
    return {} if data is None else data


def recorded(run_dir: Path, key: str) -> ProcessId | None:
    entry = read_processes_raw(run_dir).get(key)
    if isinstance(entry, dict) and "pid" in entry:
        return ProcessId(int(entry["pid"]), float(entry["create_time"]))
    return None
