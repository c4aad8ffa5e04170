"""The one-line "loader-bound" verdict `runs show` and the TUI's resources tab print.

The trainer logs `time/data_frac` (clpbert.train.step_timing): the share of each step spent
waiting for the next batch. Above LOADER_BOUND_FRACTION the accelerators idle on the loader, and
the fixes are the frame store (`datasets prepare --frames-fps`) or more loader workers.
"""

from __future__ import annotations

import math

LOADER_BOUND_FRACTION = 0.2
DATA_FRAC_METRIC = "train/time/data_frac"
"""The registry name of the trainer's `time/data_frac` (train metrics are stored as `train/<name>`)."""


def loader_verdict(data_frac: float | None) -> str | None:
    """One line when the run waits on its loader for more than LOADER_BOUND_FRACTION of step time."""
    if data_frac is None or math.isnan(data_frac) or data_frac <= LOADER_BOUND_FRACTION:
        return None
    return (f"loader-bound: {data_frac:.0%} of step time waits for data; pack with --frames-fps "
            "or raise data.num_workers")
