from __future__ import annotations

import pytest

from clpbert.errors import UserError
from clpbert.gpu.fake import FakeBackend, fake_uuid
from clpbert.gpu.nvml import gpu_snapshot
from clpbert.runs.gpu_spec import GpuRef, parse_gpu_spec


@pytest.fixture(scope="module")
def eight():
    return gpu_snapshot(FakeBackend.from_spec("8-gpus-idle"))


@pytest.fixture(scope="module")
def none():
    return gpu_snapshot(FakeBackend.from_spec("no-driver"))


def test_no_flag_or_cpu_means_cpu(eight) -> None:
    for spec in (None, "", "cpu", " CPU "):
        assert parse_gpu_spec(spec, eight).cpu


def test_indices_and_uuids_resolve_to_refs(eight) -> None:
    req = parse_gpu_spec(f"3,{fake_uuid(5)}", eight)
    assert req.gpus == (GpuRef(3, fake_uuid(3)), GpuRef(5, fake_uuid(5)))
    assert req.count == 2 and req.describe() == "3,5"
    assert parse_gpu_spec(fake_uuid(6)[:12], eight).gpus[0].index == 6  # unique prefix


def test_auto(eight, none) -> None:
    assert parse_gpu_spec("auto:4", eight).auto == 4
    assert parse_gpu_spec("auto", eight).auto == 1
    fallback = parse_gpu_spec("auto:2", none)
    assert fallback.cpu and "CPU" in fallback.notes[0]


@pytest.mark.parametrize("spec, message", [
    ("8", "there is no GPU 8"),
    ("0,0", "GPU 0 is listed twice"),
    (f"0,{fake_uuid(0)}", "GPU 0 is listed twice"),
    ("GPU-deadbeef", "no GPU has UUID"),
    ("GPU-0000000", "matches 8 GPUs"),
    ("0,,1", "empty entry"),
    ("first", "not a GPU index or UUID"),
    ("auto:0", "auto:N"),
    ("auto:x", "auto:N"),
    ("auto:9", "only 8 GPU"),
])
def test_bad_specs_are_one_line_user_errors(eight, spec: str, message: str) -> None:
    with pytest.raises(UserError, match=message) as exc:
        parse_gpu_spec(spec, eight)
    assert "\n" not in str(exc.value)


def test_explicit_gpus_without_a_driver_is_an_error(none) -> None:
    with pytest.raises(UserError, match="leave out --gpus"):
        parse_gpu_spec("0", none)
