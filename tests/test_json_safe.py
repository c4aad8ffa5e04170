"""clpbert.json_safe: the one NaN/inf-to-JSON rule every JSON writer uses."""

from __future__ import annotations

import json
import math

import numpy as np

from clpbert.json_safe import json_safe
from clpbert.registry.entities import GpuSample
from clpbert.runs.lifecycle import RunState


def strict(text: str):
    """json.loads that refuses NaN / Infinity (what a strict JSON reader does)."""
    def refuse(name: str):
        raise ValueError(f"not strict JSON: {name}")
    return json.loads(text, parse_constant=refuse)


def test_non_finite_numbers_become_null_or_clamped():
    data = {"nan": math.nan, "inf": math.inf, "neg": -math.inf, "ok": 1.5}
    assert json_safe(data) == {"nan": None, "inf": None, "neg": None, "ok": 1.5}
    assert json_safe(data, clamp_inf=True) == {"nan": None, "inf": 1e308, "neg": -1e308, "ok": 1.5}


def test_containers_enums_scalars_and_records():
    value = {1: (np.float32(2.5), np.int64(3), np.float64("nan")), "state": RunState.LOST,
             "sample": GpuSample("GPU-1", 1.0, util=math.nan), "flag": True, "none": None}
    out = json_safe(value)
    assert out["1"] == [2.5, 3, None] and type(out["1"][1]) is int
    assert out["state"] == "lost" and type(out["state"]) is str
    assert out["sample"]["util"] is None and out["sample"]["gpu_uuid"] == "GPU-1"
    assert out["flag"] is True and out["none"] is None
    strict(json.dumps(out))
