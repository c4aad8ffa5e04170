from __future__ import annotations

from clpbert.gpu.attribution import DEVICE_LEVEL_REASON, occupancy, run_usage
from clpbert.gpu.fake import FakeBackend, fake_uuid
from clpbert.gpu.nvml import gpu_snapshot


def test_run_usage_sums_the_runs_own_processes() -> None:
    snap = gpu_snapshot(FakeBackend.from_spec("8-gpus-busy"))
    (usage,) = run_usage(snap, [fake_uuid(2)], run_pids={40002, 1})
    assert usage.mode == "process" and usage.pids == [40002]
    assert usage.memory_used_mib == 61430.0


def test_run_usage_falls_back_to_device_level_and_says_why() -> None:
    snap = gpu_snapshot(FakeBackend.from_spec("container"))
    usage = run_usage(snap, [0, 1], run_pids={123})
    assert [u.mode for u in usage] == ["device", "device"]
    assert usage[0].memory_used_mib == snap.gpus[0].memory_used_mib
    assert usage[0].reason == DEVICE_LEVEL_REASON
    hidden = run_usage(gpu_snapshot(FakeBackend.from_spec("unsupported-field")), [1], run_pids=())
    assert "not supported" in hidden[0].reason


def test_occupancy() -> None:
    snap = gpu_snapshot(FakeBackend.from_spec("8-gpus-mixed"))
    assert "pid 40000" in occupancy(snap.gpus[0])
    assert occupancy(snap.gpus[0], own_pids={40000}) is None
    assert occupancy(snap.gpus[5]) is None
    container = gpu_snapshot(FakeBackend.from_spec("container"))
    assert "does not list" in occupancy(container.gpus[0])
