"""Where a training step's wall time goes: waiting for data, forward+backward, the optimizer step,
and gradient communication, logged with the step's other metrics (`time/*_s`, `time/data_frac`).

"Why is GPU utilisation low?" is the first question about a run; ClipBERT's original answer was
its loader. Data wait is CPU time blocked in the loader (perf counters: the trainer really waits
there, on CPU and GPU alike). Forward+backward and the optimizer are timed with CUDA events on a
GPU (kernels run asynchronously, so host clocks would measure launches) and perf counters on the
CPU. Communication is the time a DDP gradient all-reduce was in flight (a comm hook; it overlaps
backward, so it is also inside forward+backward). The step time is the whole train_step.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch

PHASES = ("data", "fwd_bwd", "optimizer")


class StepTimer:
    """Accumulates phase times over one step; `take(step_s)` returns them as metrics and resets."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self._host: dict[str, float] = {}
        self._events: list[tuple[str, Any, Any]] = []
        self._comm: list[tuple[float, float]] = []

    def add(self, phase: str, seconds: float) -> None:
        """Host-clock time of a phase (data wait; every phase on CPU)."""
        self._host[phase] = self._host.get(phase, 0.0) + seconds

    def start(self, phase: str) -> Callable[[], None]:
        """Begin timing a device phase; call the returned function when it ends."""
        if not self.cuda:
            t0 = time.perf_counter()
            return lambda: self.add(phase, time.perf_counter() - t0)
        begin = torch.cuda.Event(enable_timing=True)
        begin.record()

        def end() -> None:
            done = torch.cuda.Event(enable_timing=True)
            done.record()
            self._events.append((phase, begin, done))

        return end

    def comm_interval(self, start: float, end: float) -> None:
        self._comm.append((start, end))

    def take(self, step_s: float) -> dict[str, float]:
        """This step's metrics (resolving CUDA events, which waits for the step's kernels)."""
        totals = dict(self._host)
        for phase, begin, done in self._events:
            done.synchronize()
            totals[phase] = totals.get(phase, 0.0) + begin.elapsed_time(done) / 1000.0
        out = {f"time/{p}_s": totals.get(p, 0.0) for p in PHASES}
        out["time/comm_s"] = _union_length(self._comm)
        out["time/step_s"] = step_s
        out["time/data_frac"] = min(1.0, totals.get("data", 0.0) / step_s) if step_s > 0 else 0.0
        self._host, self._events, self._comm = {}, [], []
        return out


def _union_length(intervals: list[tuple[float, float]]) -> float:
    """Total time covered by possibly overlapping intervals (buckets reduce concurrently)."""
    total, end = 0.0, float("-inf")
    for a, b in sorted(intervals):
        if b > end:
            total += b - max(a, end)
            end = b
    return total


def attach_comm_timer(ddp_model: Any, timer: StepTimer) -> None:
    """Time each gradient bucket's all-reduce through a DDP comm hook (same maths as the default
    hook: sum, then divide by the world size)."""
    import torch.distributed as dist

    def hook(state, bucket):  # type: ignore[no-untyped-def]  # DDP checks annotations: none or GradBucket
        start = time.perf_counter()
        tensor = bucket.buffer().div_(dist.get_world_size())
        fut = dist.all_reduce(tensor, async_op=True).get_future()

        def done(f: torch.futures.Future[Any]) -> torch.Tensor:
            timer.comm_interval(start, time.perf_counter())
            return f.value()[0]

        return fut.then(done)

    ddp_model.register_comm_hook(None, hook)
