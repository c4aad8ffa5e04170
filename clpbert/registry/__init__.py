"""The experiment registry: datasets, checkpoints, runs, metrics, evals, GPU samples and reservations.

Use `open_registry()` and the methods documented in `queries.py`; records come back as the frozen
dataclasses of `entities.py`. Importing the package imports only the entities; SQLAlchemy comes with
the first use of `Registry`, `open_registry` or `GpusBusyError` (module __getattr__), so the light
read path (`reader.open_reader`) never loads it.
"""

from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from clpbert.registry.queries import GpusBusyError, Registry, open_registry

_FROM_QUERIES = ("GpusBusyError", "Registry", "open_registry")


def __getattr__(name: str) -> Any:
    if name in _FROM_QUERIES:
        from clpbert.registry import queries

        return getattr(queries, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

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
