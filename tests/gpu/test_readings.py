"""One GPU reading record: the GPU key rule, and the single conversion between a live reading and
a stored sample (the registry keeps schema 0001's short column names)."""

from __future__ import annotations

import dataclasses

from clpbert.gpu.readings import (
    NA_TEXT,
    SAMPLE_COLUMNS,
    GpuReading,
    fmt,
    gpu_key,
    reading_from_sample,
    sample_values,
)
from clpbert.registry.entities import GpuSample
from clpbert.registry.gpu_queries import GPU_FIELDS
from clpbert.runs.gpu_spec import GpuRef


def test_gpu_key_is_the_uuid_else_the_index():
    assert gpu_key("GPU-abc", 3) == "GPU-abc"
    assert gpu_key(None, 3) == gpu_key("", 3) == "index:3"
    assert GpuRef(3, None).key == "index:3" and GpuRef(3, "GPU-abc").key == "GPU-abc"


def test_every_sample_column_is_a_reading_field_and_a_stored_field():
    reading_fields = {f.name for f in dataclasses.fields(GpuReading)}
    sample_fields = {f.name for f in dataclasses.fields(GpuSample)}
    assert set(SAMPLE_COLUMNS) <= reading_fields
    assert set(SAMPLE_COLUMNS.values()) <= sample_fields & set(GPU_FIELDS)


def test_reading_to_sample_and_back_keeps_values_and_says_why_one_is_missing(registry):
    live = GpuReading(index=1, uuid="GPU-1", name="H200", utilization_pct=97.0, memory_used_mib=1000.0,
                      memory_total_mib=80000.0, power_w=None, temperature_c=61.0)
    run = registry.create_run("finetune", "demo")
    key = gpu_key(live.uuid, live.index)
    registry.add_gpu_samples([{**sample_values(live), "run_id": run.id, "gpu_uuid": key,
                               "gpu_index": live.index, "time": 5.0}])
    stored = registry.latest_gpu_samples()["GPU-1"]
    back = reading_from_sample(stored)
    assert (back.index, back.uuid, back.utilization_pct, back.memory_used_mib, back.memory_total_mib,
            back.temperature_c) == (1, "GPU-1", 97.0, 1000.0, 80000.0, 61.0)
    assert back.power_w is None and "power" in back.na["power_w"]
    assert "utilization_pct" not in back.na and "not live" in back.na["name"]
    assert fmt(back.power_w, " W") == NA_TEXT
