"""1 Hz readings of a run's whole process tree: every rank and DataLoader worker under its supervisor.

CPU % is the tree's CPU time over the wall time since the previous reading (100 = one core busy),
so it counts processes that came and went in between as far as psutil still sees them; RSS is
summed (shared pages count once per process, as `ps` shows them); the read rate is storage reads
(`io_counters().read_bytes`; page-cache hits, e.g. a warm LMDB, read nothing from storage).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterable
from typing import Any

import psutil

from clpbert.registry.process_samples import ProcessSample

MIB = 1024 * 1024


class TreeSampler:
    """Keeps each process's last CPU time and read bytes so a reading is a rate over one interval."""

    def __init__(self, run_id: str, host: str | None = None) -> None:
        self.run_id = run_id
        self.host = host or socket.gethostname()
        self._last: dict[tuple[int, float], tuple[float, int]] = {}
        self._last_time: float | None = None

    def sample(self, processes: Iterable[Any], now: float | None = None) -> ProcessSample | None:
        """One reading of `processes` (psutil.Process objects); None on the first call (no interval)."""
        now = time.time() if now is None else now
        seen: dict[tuple[int, float], tuple[float, int]] = {}
        cpu_delta = read_delta = 0.0
        rss = 0
        for p in processes:
            try:
                with p.oneshot():
                    key = (p.pid, p.create_time())
                    times = p.cpu_times()
                    cpu = times.user + times.system
                    rss += p.memory_info().rss
                    try:
                        read = p.io_counters().read_bytes
                    except (psutil.AccessDenied, AttributeError):
                        read = 0
            except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                continue
            seen[key] = (cpu, read)
            before = self._last.get(key)
            if before is not None:
                cpu_delta += max(0.0, cpu - before[0])
                read_delta += max(0, read - before[1])
            else:
                cpu_delta += cpu if self._last_time is not None else 0.0
        interval = None if self._last_time is None else now - self._last_time
        self._last, self._last_time = seen, now
        if not interval or interval <= 0:
            return None
        return ProcessSample(self.run_id, self.host, now, len(seen), 100.0 * cpu_delta / interval, rss / MIB,
                             read_delta / MIB / interval)
