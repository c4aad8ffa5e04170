"""The demo task, and the worked example of adding a task.

A task is one record, its `TaskSpec` in `clpbert/task_specs.py`: preset, dataset builder,
image/video, predict mode, and `trainer`, the `Task` below by its import path
(`clpbert.train.tasks.demo:DEMO`), which the trainer loads through `spec_of(task.name).train_task()`.
A `Task` is the trainer's side: head, loss, evaluation, metrics. The demo is open-ended QA on the
synthetic shapes videos of `clpbert.data.demo`, so it reuses `QATask`'s loss and evaluation and
only declares what is its own:

    @dataclass
    class DemoTask(QATask):
        head: str = "qa"  # which model head
        # the metric that picks checkpoints/best.pt, and the columns of the eval table
        default_metric: str = "acc"
        eval_columns: tuple[str, ...] = ("acc", "acc/color", "acc/count")

    DEMO = DemoTask("demo", description="...")  # TaskSpec(..., trainer="clpbert.train.tasks.demo:DEMO")

A new task with its own loss overrides `loss(model, batch, cfg) -> LossOutput` (the batch is the
"Batches" contract dict, already on the device) and `evaluate(ctx, dataset) -> metrics dict`
(iterate `ctx.batches(dataset)`, predict with `ctx.model` under `ctx.autocast()`, `ctx.gather`
the per-rank records, compute with the pure functions of `clpbert.train.metrics`). README
"Adding a task" lists every edit.
"""

from __future__ import annotations

from dataclasses import dataclass

from clpbert.data.demo import DEFAULT_TYPES
from clpbert.train.tasks.qa import QATask


@dataclass
class DemoTask(QATask):
    head: str = "qa"
    default_metric: str = "acc"
    eval_columns: tuple[str, ...] = ("acc", *(f"acc/{t}" for t in DEFAULT_TYPES))


DEMO = DemoTask("demo", description="synthetic shapes video QA (colour and count questions)")
