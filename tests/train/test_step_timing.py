"""Where a step's time goes: the phase split the trainer logs, and the timed DDP all-reduce."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import torch

from clpbert.train.step_timing import StepTimer, _union_length


def test_union_of_overlapping_comm_intervals():
    assert _union_length([]) == 0.0
    assert _union_length([(0.0, 1.0), (0.5, 2.0), (3.0, 4.0)]) == pytest.approx(3.0)
    assert _union_length([(1.0, 2.0), (1.2, 1.5)]) == pytest.approx(1.0)


def test_cpu_timer_splits_a_step_and_resets():
    timer = StepTimer(torch.device("cpu"))
    timer.add("data", 0.3)
    end = timer.start("fwd_bwd")
    time.sleep(0.02)
    end()
    out = timer.take(step_s=1.0)
    assert out["time/data_s"] == 0.3 and out["time/data_frac"] == pytest.approx(0.3)
    assert out["time/fwd_bwd_s"] >= 0.02 and out["time/optimizer_s"] == 0.0 and out["time/step_s"] == 1.0
    assert timer.take(step_s=1.0)["time/data_s"] == 0.0


def _ddp_worker(rank: int, port: int, results: dict) -> None:
    import torch.distributed as dist
    from torch import nn

    from clpbert.train.step_timing import attach_comm_timer

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    torch.manual_seed(0)
    grads = []
    for timed in (False, True):
        model = nn.parallel.DistributedDataParallel(nn.Linear(8, 4))
        timer = StepTimer(torch.device("cpu"))
        if timed:
            attach_comm_timer(model, timer)
        x = torch.full((3, 8), float(rank + 1))
        model(x).sum().backward()
        grads.append(model.module.weight.grad.clone())
        comm = timer.take(step_s=1.0)["time/comm_s"]
    results[rank] = (torch.equal(grads[0], grads[1]), comm)
    dist.destroy_process_group()


def test_timed_allreduce_gives_the_same_gradients_and_a_comm_time():
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with mp.Manager() as manager:
        results = manager.dict()
        mp.spawn(_ddp_worker, args=(port, results), nprocs=2, join=True)
        got = dict(results)
    assert all(same for same, _ in got.values()), got
    assert all(comm > 0 for _, comm in got.values()), got


@pytest.mark.slow
def test_trainer_logs_the_time_split_per_step(tiny_demo: Path, tmp_path: Path, make_config, trainer):
    from clpbert.train.events import read_events

    run_dir = tmp_path / "run"
    config = make_config(run_dir, tiny_demo, "optim.max_steps=2", "eval.valid_steps=2", "data.num_workers=0")
    proc = trainer(config, env={"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    train = [e["metrics"] for e in read_events(run_dir) if e["event"] == "train"]
    assert len(train) == 2
    for m in train:
        parts = m["time/data_s"] + m["time/fwd_bwd_s"] + m["time/optimizer_s"]
        assert m["time/data_s"] > 0 and m["time/fwd_bwd_s"] > 0 and m["time/optimizer_s"] > 0
        assert parts <= m["time/step_s"] * 1.01 and 0 < m["time/data_frac"] < 1
        assert m["time/comm_s"] == 0.0  # one process: nothing to reduce
