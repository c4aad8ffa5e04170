"""What a task is to the trainer: its head, loss, evaluation, metrics and eval table. The task's one
record is its `clpbert.task_specs.TaskSpec`, whose `trainer` names this `Task` (or subclass)
instance and whose `train_task()` loads it; the spec also holds the preset, dataset builder,
image/video kind and predict mode. The trainer is task-agnostic: it asks the task for the training
loss of a batch and for the metrics of an evaluation split, and shows `eval_columns` in tables.
See `tasks/demo.py` for a worked example of adding one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from clpbert.config import RunConfig
from clpbert.train import distributed


@dataclass
class SavedPredictions:
    """One evaluation's predictions: kind (predictions.schema.KINDS), rows and the split's size."""

    kind: str
    rows: list[dict[str, Any]]
    expected: int


@dataclass
class EvalContext:
    """What `Task.evaluate` gets: the plain model, the device, precision and the process group."""

    model: nn.Module  # the unwrapped ClipBert (no DDP), in eval mode
    cfg: RunConfig
    device: torch.device
    dist: distributed.DistInfo
    autocast: Callable[[], contextlib.AbstractContextManager]
    make_loader: Callable[..., Iterable[dict[str, Any]]]
    """make_loader(dataset, batch_size) -> this rank's shard of the split, in order, padded so
    every rank has the same number of batches (records are deduplicated after gathering)."""
    save_predictions: bool = False
    """Whether the trainer saves this evaluation's predictions (eval.save_predictions)."""
    predictions: SavedPredictions | None = None
    """Set by `Task.evaluate` (through `keep_predictions`) when save_predictions is on."""

    def keep_predictions(self, kind: str, rows: list[dict[str, Any]], expected: int) -> None:
        """Hand the gathered prediction rows (predictions.schema.record) to the trainer to save."""
        self.predictions = SavedPredictions(kind, rows, expected)

    def batches(self, dataset: Any, batch_size: int | None = None) -> Iterator[dict[str, Any]]:
        for batch in self.make_loader(dataset, batch_size or self.cfg.data.inference_batch_size):
            yield to_device(batch, self.device)

    def gather(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Every rank's records, concatenated in rank order."""
        return [r for part in distributed.all_gather_object(records) for r in part]


@dataclass
class LossOutput:
    loss: torch.Tensor
    parts: dict[str, float] = field(default_factory=dict)  # logged as loss/<name>


def to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """Tensors to `device` (non_blocking: the loader pins memory on GPU); other values as they are."""
    return {k: (v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v)
            for k, v in batch.items()}


@dataclass
class Task:
    """A trainable/evaluable task. Subclasses override `loss` and `evaluate`.

    name: the config's task.name; head: the model head (must equal task.head in the preset);
    default_metric: picks the best checkpoint when eval.metric is empty;
    eval_columns: the metrics a table shows for this task, in order;
    trainable: False for evaluation-only tasks (msrvtt_mc).
    """

    name: str
    head: str
    default_metric: str
    eval_columns: tuple[str, ...]
    trainable: bool = True
    description: str = ""

    def loss(self, model: nn.Module, batch: dict[str, Any], cfg: RunConfig) -> LossOutput:
        raise NotImplementedError

    def evaluate(self, ctx: EvalContext, dataset: Any) -> dict[str, float]:
        raise NotImplementedError

    def videos_in(self, batch: dict[str, Any]) -> int:
        """Videos (or images) in a training batch, for videos_per_s."""
        return int(batch["frames"].shape[0])


def lower_is_better(metric: str) -> bool:
    """Ranks and losses improve downwards; accuracies and recalls upwards."""
    last = metric.rsplit("/", 1)[-1]
    return last in ("mdr", "mnr", "medr", "meanr") or "loss" in last
