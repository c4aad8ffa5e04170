"""The demo task, and the worked example of adding a task.

A task's trainer side is one module in `clpbert/train/tasks/` that builds a `Task` and registers
it; importing `clpbert.train.tasks` imports every module listed there, so the trainer finds it by
the config's `task.name`. Its other facts (preset, dataset builder, image/video, predict mode) are
its `TaskSpec` in `clpbert/task_specs.py`. The demo is open-ended QA on the synthetic shapes videos
of `clpbert.data.demo`, so it reuses `QATask`'s loss and evaluation and only declares what is its own:

    @dataclass
    class DemoTask(QATask):
        head: str = "qa"  # which model head
        # the metric that picks checkpoints/best.pt, and the columns of the eval table
        default_metric: str = "acc"
        eval_columns: tuple[str, ...] = ("acc", "acc/color", "acc/count")

    register_task(DemoTask("demo", description="..."))

A new task with its own loss overrides `loss(model, batch, cfg) -> LossOutput` (the batch is the
"Batches" contract dict, already on the device) and `evaluate(ctx, dataset) -> metrics dict`
(iterate `ctx.batches(dataset)`, predict with `ctx.model` under `ctx.autocast()`, `ctx.gather`
the per-rank records, compute with the pure functions of `clpbert.train.metrics`). README
"Adding a task" lists every edit.
"""

from __future__ import annotations

from dataclasses import dataclass

from clpbert.data.demo import DEFAULT_TYPES
from clpbert.train.tasks.base import register_task
from clpbert.train.tasks.qa import QATask


@dataclass
class DemoTask(QATask):
    head: str = "qa"
    default_metric: str = "acc"
    eval_columns: tuple[str, ...] = ("acc", *(f"acc/{t}" for t in DEFAULT_TYPES))


register_task(DemoTask("demo", description="synthetic shapes video QA (colour and count questions)"))
