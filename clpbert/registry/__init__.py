"""The experiment registry: datasets, checkpoints, runs, metrics, evals, GPU samples and reservations.

Use `open_registry()` and the methods documented in `queries.py`; records come back as the frozen
dataclasses of `entities.py`. Importing this package imports SQLAlchemy (CLI modules import it
inside their commands).
"""

from clpbert.registry.entities import (
    ACTIVE_STATES,
    CHECKPOINT_KINDS,
    RUN_KINDS,
    TERMINAL_STATES,
    Attempt,
    Checkpoint,
    Dataset,
    Eval,
    EvalPredictions,
    GpuReservation,
    GpuSample,
    Metric,
    MetricLatest,
    MetricSeries,
    Run,
    RunState,
)
from clpbert.registry.queries import GpusBusyError, Registry, open_registry

__all__ = [
    "ACTIVE_STATES",
    "CHECKPOINT_KINDS",
    "RUN_KINDS",
    "TERMINAL_STATES",
    "Attempt",
    "Checkpoint",
    "Dataset",
    "Eval",
    "EvalPredictions",
    "GpuReservation",
    "GpuSample",
    "GpusBusyError",
    "Metric",
    "MetricLatest",
    "MetricSeries",
    "Registry",
    "Run",
    "RunState",
    "open_registry",
]
