from __future__ import annotations

import json
from pathlib import Path

import pytest

from clpbert.gpu.fake import FakeBackend
from clpbert.gpu.nvml import gpu_snapshot
from clpbert.registry import open_registry
from clpbert.runs.gpu_spec import parse_gpu_spec
from clpbert.runs.scheduler import LAUNCH_FILE, request_to_dict, try_acquire

HOST = "testhost"


@pytest.fixture
def reg(clpbert_home: Path):
    with open_registry() as r:
        yield r


def _queued(reg, tmp_path: Path, spec: str, snap, name: str):
    req = parse_gpu_spec(spec, snap)
    d = tmp_path / name
    d.mkdir()
    (d / LAUNCH_FILE).write_text(json.dumps({"gpu_request": request_to_dict(req)}))
    run = reg.create_run("finetune", "demo", name=name, run_dir=d, host=HOST)
    return run, req


def test_fifo_on_shared_gpus_and_independence_on_others(reg, tmp_path: Path) -> None:
    snap = gpu_snapshot(FakeBackend.from_spec("2-gpus-idle"))
    a, ra = _queued(reg, tmp_path, "0", snap, "a")
    b, rb = _queued(reg, tmp_path, "0", snap, "b")
    c, rc = _queued(reg, tmp_path, "1", snap, "c")
    # b may not jump ahead of a on GPU 0; c wants another GPU and is not held up
    assert "run queued earlier" in try_acquire(reg, b, rb, snap, HOST).waiting_for
    assert [g.index for g in try_acquire(reg, c, rc, snap, HOST).gpus] == [1]
    assert [g.index for g in try_acquire(reg, a, ra, snap, HOST).gpus] == [0]
    reg.set_run_state(a.id, "running")
    reg.set_run_state(c.id, "running")
    assert f"reserved by run {a.id}" in try_acquire(reg, b, rb, snap, HOST).waiting_for
    # a ends without releasing (a crash): its stale reservation is released on the way
    reg.set_run_state(a.id, "failed")
    assert [g.index for g in try_acquire(reg, b, rb, snap, HOST).gpus] == [0]
    assert {r.run_id for r in reg.reserved_gpus(host=HOST)} == {b.id, c.id}


def test_an_older_auto_request_blocks_younger_gpu_runs(reg, tmp_path: Path) -> None:
    snap = gpu_snapshot(FakeBackend.from_spec("2-gpus-idle"))
    a, ra = _queued(reg, tmp_path, "auto:2", snap, "a")
    b, rb = _queued(reg, tmp_path, "1", snap, "b")
    assert f"run {a.id}" in try_acquire(reg, b, rb, snap, HOST).waiting_for
    assert sorted(g.index for g in try_acquire(reg, a, ra, snap, HOST).gpus) == [0, 1]
    reg.set_run_state(a.id, "running")
    assert "reserved by run" in try_acquire(reg, b, rb, snap, HOST).waiting_for


def test_foreign_processes_keep_a_gpu_busy(reg, tmp_path: Path) -> None:
    snap = gpu_snapshot(FakeBackend.from_spec("8-gpus-mixed"))
    a, ra = _queued(reg, tmp_path, "2", snap, "a")
    assert "runs pid 40002" in try_acquire(reg, a, ra, snap, HOST).waiting_for
    b, rb = _queued(reg, tmp_path, "auto:3", snap, "b")
    reg.set_run_state(a.id, "killed")
    assert sorted(g.index for g in try_acquire(reg, b, rb, snap, HOST).gpus) == [4, 5, 6]
