"""1 Hz process-tree readings: a busy child shows up as CPU %, and a live run's supervisor stores them."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from clpbert.runs.tree_sampler import TreeSampler


def test_a_busy_process_reads_as_cpu_and_memory():
    busy = subprocess.Popen([sys.executable, "-c", "import time\nx = bytearray(64 << 20)\n"
                             "end = time.time() + 3\nwhile time.time() < end: pass"])
    try:
        tree = [psutil.Process(busy.pid)]
        sampler = TreeSampler("r1", host="h")
        time.sleep(0.3)
        assert sampler.sample(tree) is None  # the first reading has no interval yet
        time.sleep(1.0)
        got = sampler.sample(tree)
        assert got is not None and (got.run_id, got.host, got.processes) == ("r1", "h", 1)
        assert got.cpu_pct > 20 and got.rss_mib > 60 and got.read_mib_s >= 0
    finally:
        busy.kill()
        busy.wait()
    assert sampler.sample(tree).processes == 0  # gone: nothing counted, no error


@pytest.mark.slow
def test_a_running_supervisor_stores_process_samples(runs_home: Path, rt) -> None:
    from clpbert.registry import open_registry, process_samples
    from clpbert.runs.service import LaunchRequest, kill_run, launch_run

    with open_registry() as reg:
        run = launch_run(reg, LaunchRequest(kind="finetune", task="demo", dataset="demo",
                                            sets=[*rt.TINY, "optim.max_steps=1000"]))
        def trainer_sampled():  # type: ignore[no-untyped-def]
            return [s for s in process_samples.series(reg, run.id) if s.processes >= 2]

        samples = rt.wait_until(trainer_sampled, 240, "a sample of torchrun and its worker")
        assert samples[-1].rss_mib > 50 and samples[-1].cpu_pct > 0
        kill_run(reg, run.id)
        reg.set_run_state(run.id, "killed", reason="test", now=time.time() - 2 * 86_400)
        stored = len(process_samples.series(reg, run.id, limit=10**6))
        assert process_samples.prune_ended(reg, time.time()) == stored > 0
        assert process_samples.series(reg, run.id) == []
