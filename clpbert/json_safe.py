"""One rule for turning values into strict JSON, used by every writer of JSON (events.jsonl, the
registry's records, `--json` output, `runs export`).

JSON has no NaN or infinity: both become null (a metric that is not a number is "no value"), or,
with clamp_inf, ±1e308 for infinities that must keep their order (a record's best value). Enums
become their value, mapping keys strings, tuples lists, numpy/torch scalars Python numbers, and
objects with to_dict() their dict.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from typing import Any


def json_safe(value: Any, *, clamp_inf: bool = False) -> Any:
    """A copy of `value` that json.dumps writes as strict JSON (see the module docstring)."""
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        if math.isnan(value) or not clamp_inf:
            return None
        return 1e308 if value > 0 else -1e308
    if isinstance(value, enum.Enum):
        return value.value
    if value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, Mapping):
        return {str(k): json_safe(v, clamp_inf=clamp_inf) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v, clamp_inf=clamp_inf) for v in value]
    if callable(getattr(value, "to_dict", None)):
        return json_safe(value.to_dict(), clamp_inf=clamp_inf)
    if callable(getattr(value, "item", None)):  # numpy / torch scalars
        return json_safe(value.item(), clamp_inf=clamp_inf)
    return value
