"""Plain, frozen records the registry hands out (the ORM rows never leave clpbert/registry/).

Times are float seconds since the epoch; `None` means "not known / not yet". `to_dict()` gives a
JSON-ready dict (what `--json` prints).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from clpbert.json_safe import json_safe

# The run lifecycle lives in clpbert.runs.lifecycle; the registry's records re-export its names.
from clpbert.runs.lifecycle import ACTIVE_STATES, TERMINAL_STATES, RunState  # noqa: F401

RUN_KINDS = ("pretrain", "finetune", "eval")
CHECKPOINT_KINDS = ("pretrained", "e2e", "cnn", "bert", "finetuned")


class _Entity:
    def to_dict(self) -> dict[str, Any]:
        """Field name -> value, JSON-ready (NaN → null, ±inf → ±1e308, enums → their value)."""
        return {f.name: json_safe(getattr(self, f.name), clamp_inf=True)
                for f in dataclasses.fields(self)}  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Dataset(_Entity):
    id: int
    name: str
    format: str
    task: str
    txt_db: str
    vis_db: str
    tokenizer: str
    splits: dict[str, int]
    fingerprint: str
    created: float


@dataclass(frozen=True, slots=True)
class Checkpoint(_Entity):
    id: int
    name: str
    path: str
    kind: str
    source: str
    sha256: str
    size: int
    run_id: str | None
    step: int | None
    created: float
    notes: str


@dataclass(frozen=True, slots=True)
class Run(_Entity):
    id: str
    name: str
    kind: str
    task: str
    dataset: str
    config: dict[str, Any]
    state: RunState
    host: str
    gpus: list[Any]
    """One entry per GPU: {"index": int, "uuid": str | None}."""
    nnodes: int
    supervisor_pid: int | None
    supervisor_create_time: float | None
    exit_code: int | None
    signal: int | None
    reason: str | None
    created: float
    started: float | None
    ended: float | None
    tags: list[Any]
    notes: str
    run_dir: str
    step: int
    total_steps: int | None
    best_metric_name: str | None
    best_metric_value: float | None
    latest_loss: float | None
    job_id: str | None
    """The multi-node job this node run belongs to (node 0's run id); None: one node, or not linked yet."""
    node_rank: int | None
    """This run's node in its multi-node job (known from the launch); None for a one-node run."""
    job_nodes: list[Any] | None
    """Every node of the job as the rendezvous saw it: {"node_rank", "run_id", "host"}; None before."""

    @property
    def progress(self) -> float | None:
        """step / total_steps in [0, 1], or None when the total is unknown."""
        if not self.total_steps:
            return None
        return min(1.0, self.step / self.total_steps)


@dataclass(frozen=True, slots=True)
class Attempt(_Entity):
    id: int
    run_id: str
    number: int
    started: float
    ended: float | None
    state: str
    exit_code: int | None
    signal: int | None
    reason: str | None
    resumed_from: str | None


@dataclass(frozen=True, slots=True)
class Metric(_Entity):
    """One logged point; `id` increases with insertion order (see `metrics_since`)."""

    id: int
    run_id: str
    step: int
    name: str
    value: float
    time: float


@dataclass(frozen=True, slots=True)
class MetricLatest(_Entity):
    """The value at the highest step logged so far, and the number of points of the metric."""

    run_id: str
    name: str
    step: int
    value: float
    time: float
    count: int


@dataclass(frozen=True, slots=True)
class MetricSeries(_Entity):
    """A metric ready to plot. When downsampled, each point is one step bucket: `steps` holds the
    bucket's last step, `values` its mean, `mins`/`maxs` its envelope (spikes stay visible)."""

    run_id: str
    name: str
    steps: list[int]
    values: list[float]
    mins: list[float]
    maxs: list[float]
    total_points: int
    downsampled: bool


@dataclass(frozen=True, slots=True)
class Eval(_Entity):
    id: int
    run_id: str
    step: int
    split: str
    metrics: dict[str, float]
    time: float


@dataclass(frozen=True, slots=True)
class EvalPredictions(_Entity):
    """Where an evaluation's saved predictions are: `path` relative to the run dir."""

    eval_id: int
    run_id: str
    path: str
    kind: str
    rows: int
    created: float


@dataclass(frozen=True, slots=True)
class GpuSample(_Entity):
    """One NVML reading. util %, memory in MiB, power in W, temperature in °C; None = N/A."""

    gpu_uuid: str
    time: float
    gpu_index: int | None = None
    util: float | None = None
    mem_used: float | None = None
    mem_total: float | None = None
    power: float | None = None
    temperature: float | None = None
    run_id: str | None = None
    id: int | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class GpuReservation(_Entity):
    host: str
    gpu_key: str
    """The GPU's UUID, or `index:<n>` when NVML gave no UUID."""
    gpu_index: int | None
    gpu_uuid: str | None
    run_id: str
    reserved_at: float
