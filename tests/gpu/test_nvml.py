"""NVML reading logic through the fake backend (same code path as pynvml), and the real backend's
no-driver mode on this CPU-only machine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clpbert.errors import UserError
from clpbert.gpu.fake import SCENARIOS, FakeBackend, fake_uuid
from clpbert.gpu.nvml import FAKE_ENV, GpuMonitor, PynvmlBackend, get_backend, gpu_snapshot


def test_every_scenario_reads_without_raising() -> None:
    for name in SCENARIOS:
        snap = gpu_snapshot(FakeBackend.from_spec(name))
        json.dumps(snap.to_dict())  # JSON-ready
        assert snap.backend == f"fake:{name}"


def test_no_driver_is_a_normal_snapshot_with_a_reason() -> None:
    snap = gpu_snapshot(FakeBackend.from_spec("no-driver"))
    assert snap.driver is None
    assert snap.gpus == []
    assert "driver" in snap.reason


def test_eight_busy_gpus_list_their_processes() -> None:
    snap = gpu_snapshot(FakeBackend.from_spec("8-gpus-busy"))
    assert len(snap.gpus) == 8
    g = snap.gpus[3]
    assert g.uuid == fake_uuid(3)
    assert g.utilization_pct == 97.0
    assert g.memory_total_mib == pytest.approx(81559.0)
    assert [p.pid for p in g.processes] == [40003]
    assert g.processes[0].used_memory_mib == pytest.approx(61430.0)
    assert g.power_w == pytest.approx(612.0)


def test_unsupported_field_is_none_with_a_reason_and_the_rest_still_reads() -> None:
    snap = gpu_snapshot(FakeBackend.from_spec("unsupported_field"))
    g0, g1 = snap.gpus
    assert g0.power_w is None and "not supported" in g0.na["power_w"]
    assert g0.temperature_c == 31.0 and g0.processes == []
    assert g1.processes is None and "not supported" in g1.na["processes"]


def test_container_scenario_shows_memory_but_no_processes() -> None:
    g = gpu_snapshot(FakeBackend.from_spec("container")).gpus[0]
    assert g.processes == [] and g.memory_used_mib > 1024


def test_json_file_is_reread_on_every_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "gpus.json"
    path.write_text(json.dumps({"driver": "1.0", "gpus": [{"name": "X", "uuid": "GPU-a", "processes": []}]}))
    monitor = GpuMonitor(FakeBackend.from_spec(str(path)))
    first = monitor.snapshot()
    assert [g.uuid for g in first.gpus] == ["GPU-a"]
    assert first.gpus[0].utilization_pct is None and first.gpus[0].na["utilization_pct"]
    path.write_text(json.dumps({"driver": "1.0", "gpus": [{"uuid": "GPU-a"}, {"uuid": "GPU-b"}]}))
    assert [g.uuid for g in monitor.snapshot().gpus] == ["GPU-a", "GPU-b"]


def test_graphics_and_compute_lists_merge_once_per_pid(tmp_path: Path) -> None:
    path = tmp_path / "gpus.json"
    procs = [{"pid": 5, "kind": "compute", "used_memory_mib": 10},
             {"pid": 5, "kind": "graphics", "used_memory_mib": 10},
             {"pid": 6, "kind": "graphics"}]
    path.write_text(json.dumps({"driver": "1.0", "gpus": [{"uuid": "GPU-a", "processes": procs}]}))
    g = gpu_snapshot(FakeBackend.from_spec(str(path))).gpus[0]
    assert [(p.pid, p.kind, p.used_memory_mib) for p in g.processes] == [(5, "compute", 10.0),
                                                                         (6, "graphics", None)]


def test_unknown_scenario_is_a_user_error() -> None:
    with pytest.raises(UserError, match="8-gpus-busy"):
        FakeBackend.from_spec("nine-gpus")


def test_env_selects_the_fake_backend() -> None:
    assert get_backend({FAKE_ENV: "2-gpus-idle"}).name == "fake:2-gpus-idle"
    assert isinstance(get_backend({}), PynvmlBackend)


def test_real_backend_without_driver_does_not_raise() -> None:
    """This machine has no NVIDIA driver; the real backend reports that as a normal snapshot."""
    snap = gpu_snapshot(PynvmlBackend())
    if snap.driver is not None:
        pytest.skip("a real NVIDIA driver is present")
    assert snap.gpus == [] and snap.reason


def test_real_backend_falls_back_from_v3_to_older_process_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Old drivers lack the _v3 entry points: the pynvml backend tries v2, then v1."""
    import types

    import pynvml

    def missing(_h):
        raise pynvml.NVMLError(pynvml.NVML_ERROR_FUNCTION_NOT_FOUND)

    proc = types.SimpleNamespace(pid=7, usedGpuMemory=3 * 1024 * 1024)
    monkeypatch.setattr(pynvml, "nvmlDeviceGetComputeRunningProcesses_v3", missing)
    monkeypatch.setattr(pynvml, "nvmlDeviceGetComputeRunningProcesses_v2", lambda _h: [proc])
    assert PynvmlBackend().compute_processes(None) == [(7, 3 * 1024 * 1024)]
    monkeypatch.setattr(pynvml, "nvmlDeviceGetComputeRunningProcesses_v2", missing)
    monkeypatch.setattr(pynvml, "nvmlDeviceGetComputeRunningProcesses", lambda _h: [proc])
    assert PynvmlBackend().compute_processes(None) == [(7, 3 * 1024 * 1024)]

    def no_permission(_h):
        raise pynvml.NVMLError(pynvml.NVML_ERROR_NO_PERMISSION)

    monkeypatch.setattr(pynvml, "nvmlDeviceGetGraphicsRunningProcesses_v3", no_permission)
    from clpbert.gpu.nvml import FieldUnavailable

    with pytest.raises(FieldUnavailable, match="no permission"):
        PynvmlBackend().graphics_processes(None)
