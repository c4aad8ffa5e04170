"""The original's step arithmetic: global batch, steps per epoch, total steps (spec §4.1, §4.2).

* Global batch = per-GPU batch x processes x gradient accumulation, in groups (a group is one
  video/image with its k texts). The presets state the original's (`optim.global_batch`: 4 GPUs
  for finetuning, 8 for pretraining); `adapt_global_batch` keeps it on another process count by
  changing the per-GPU batch or the accumulation, never raising the per-GPU batch above the
  preset's (that is what fits in memory). A batch size or accumulation the user set explicitly
  is kept as given.
* Total steps = ceil(epochs x G / global batch), G = the number of training groups (Σ⌈n_i/k⌉,
  clpbert.data.grouping) over the texts training keeps (QA: not the questions whose answer is
  outside the vocabulary, clpbert.data.qa_labels). The original writes it as ceil(epochs x
  N_examples / (n_gpu x bsz x grad_accum x k)) with N_examples = G x k for finetuning, and
  ceil(n_batches_in_epoch x epochs / (n_gpu x grad_accum)) with n_batches_in_epoch =
  Σ_sources G_s / bsz for pretraining: the same number.

Imports nothing heavy: `clpbert run` and `clpbert config show` print this before any torch import.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clpbert.data.grouping import count_groups, record_key


@dataclass(frozen=True)
class BatchPlan:
    """How one optimiser step's groups are made: per-GPU batch x processes x accumulation."""

    per_gpu: int
    world: int
    accum: int
    target: int = 0
    """The global batch asked for (0 = none: per_gpu and accum are used as they are)."""
    note: str = ""

    @property
    def global_batch(self) -> int:
        return self.per_gpu * self.world * self.accum

    def describe(self) -> str:
        procs = f"{self.world} process{'es' if self.world != 1 else ''}"
        line = (f"global batch {self.global_batch} = {self.per_gpu} per process x {procs} x accumulation "
                f"{self.accum}")
        if self.target and self.target != self.global_batch:
            line += f" (the preset's is {self.target})"
        return line + (f"; {self.note}" if self.note else "")


def plan_batch(target: int, world: int, per_gpu_max: int) -> tuple[int, int]:
    """(per-GPU batch, accumulation) giving exactly `target` on `world` processes with the per-GPU
    batch at most `per_gpu_max` and the fewest accumulation steps. When no split gives exactly
    `target`, the fewest accumulation steps that fit with the per-GPU batch rounded up: a larger
    global batch, not always the nearest reachable one (64 on 3 GPUs -> 11 x 3 x 2 = 66; 128 with
    at most 8 per GPU -> 8 x 3 x 6 = 144, where 1 x 3 x 43 = 129 would need 43 micro-steps)."""
    world, per_gpu_max = max(world, 1), max(per_gpu_max, 1)
    per_step = -(-target // world)  # groups each process must see per step
    for accum in range(max(1, -(-per_step // per_gpu_max)), per_step + 1):
        if target % (world * accum) == 0 and target // (world * accum) <= per_gpu_max:
            return target // (world * accum), accum
    accum = max(1, -(-per_step // per_gpu_max))
    return -(-per_step // accum), accum


def adapt_global_batch(cfg: Any, world: int, preset_cfg: Any | None = None) -> BatchPlan:
    """Set cfg.data.batch_size / cfg.optim.grad_accum so the global batch is optim.global_batch on
    `world` processes; returns the plan (printed at launch).

    Leaves both as they are when optim.global_batch is 0, or when either differs from the preset's
    value (`preset_cfg`): the user chose them, and `--set` wins.
    """
    d, o = cfg.data, cfg.optim
    target = int(getattr(o, "global_batch", 0) or 0)
    if target <= 0:
        return BatchPlan(d.batch_size, world, o.grad_accum)
    if preset_cfg is not None and (d.batch_size != preset_cfg.data.batch_size
                                   or o.grad_accum != preset_cfg.optim.grad_accum):
        return BatchPlan(d.batch_size, world, o.grad_accum, target,
                         note="data.batch_size/optim.grad_accum set explicitly")
    per_gpu, accum = plan_batch(target, world, d.batch_size)
    d.batch_size, o.grad_accum = per_gpu, accum
    plan = BatchPlan(per_gpu, world, accum, target)
    if plan.global_batch != target:
        plan = BatchPlan(per_gpu, world, accum, target,
                         note=f"{target} is not divisible on {world} processes")
    return plan


@dataclass(frozen=True)
class StepPlan:
    """Total optimiser steps from the number of training groups and the batch plan."""

    groups: int
    batch: BatchPlan
    epochs: float
    max_steps: int = 0
    k: int = 1
    left_out: int = 0
    """QA questions not trained on: their answer is outside the vocabulary (clpbert.data.qa_labels)."""

    @property
    def steps_per_epoch(self) -> float:
        return self.groups / max(self.batch.global_batch, 1)

    @property
    def total_steps(self) -> int:
        if self.max_steps > 0:
            return self.max_steps
        return max(1, math.ceil(self.epochs * self.groups / max(self.batch.global_batch, 1)))

    def describe(self) -> str:
        what = f"{self.groups} groups (Σ⌈n_i/{self.k}⌉ texts per image)" if self.k > 1 else \
            f"{self.groups} examples"
        if self.left_out:
            what += f" ({self.left_out} questions with no answer in the vocabulary left out)"
        line = (f"steps: {_num(self.epochs)} epochs x {what} / global batch {self.batch.global_batch} = "
                f"{math.ceil(self.epochs * self.groups / max(self.batch.global_batch, 1))} "
                f"({self.steps_per_epoch:.1f} per epoch)")
        if self.max_steps > 0:
            line += f"; optim.max_steps={self.max_steps} caps it"
        return line


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def total_steps(groups: int, cfg: Any, world: int) -> int:
    """The trainer's total steps for `groups` training groups on `world` processes."""
    plan = BatchPlan(cfg.data.batch_size, world, cfg.optim.grad_accum)
    return StepPlan(groups, plan, cfg.optim.epochs, cfg.optim.max_steps).total_steps


# ----------------------------------------------------------------------------------------------
# Counting groups from the txt_db, without building datasets (and without torch)
# ----------------------------------------------------------------------------------------------


def _keys(path: Path, limit: int) -> Iterator[str]:
    with open(path, encoding="utf-8") as f:
        n = 0
        for line in f:
            line = line.strip()
            if not line:
                continue
            yield record_key(json.loads(line))
            n += 1
            if limit and n >= limit:
                return


def split_groups(txt_db: str | Path, split: str, k: int, limit: int = 0, *, qa: bool = False) -> int:
    """Σ⌈n_i/k⌉ over the images/videos of a txt_db split (the first `limit` records if > 0).

    `qa`: count only the questions training keeps (clpbert.data.qa_labels: an answer outside
    ans2label is dropped), as QADataset does.
    """
    return _count_split(txt_db, split, k, limit, qa)[0]


def _count_split(txt_db: str | Path, split: str, k: int, limit: int, qa: bool) -> tuple[int, int]:
    """(training groups, QA questions left out) of a txt_db split."""
    from clpbert.data.txt_db import TxtDB

    txt = TxtDB(txt_db)
    if not qa:
        return count_groups(_keys(txt.require(split), limit), k), 0
    from clpbert.data.qa_labels import training_questions

    records = txt.read(split)
    records = records[:limit] if limit > 0 else records
    kept = training_questions(records, txt.ans2label())
    return count_groups((record_key(r) for r in kept), k), len(records) - len(kept)


def train_txt_dbs(cfg: Any) -> list[str]:
    """The txt_db directory of each training source (data.txt_db, else the registered dataset)."""
    txts = [v.strip() for v in cfg.data.txt_db.split(",") if v.strip()]
    names = [v.strip() for v in cfg.data.dataset.split(",") if v.strip()]
    out = []
    for i in range(max(len(txts), len(names))):
        if i < len(txts):
            out.append(txts[i])
            continue
        out.append(_registered_txt_db(names[i]))
    return out


def _registered_txt_db(name: str) -> str:
    from clpbert import paths
    from clpbert.errors import NotFoundError

    try:
        from clpbert.registry import open_registry

        with open_registry() as reg:
            return reg.get_dataset(name).txt_db
    except NotFoundError:
        return str(paths.dataset_dir(name) / "txt_db")


def plan_steps(cfg: Any, world: int) -> StepPlan:
    """The step plan of a resolved config on `world` processes, counting its training groups."""
    k = cfg.data.max_n_example_per_group
    counts = [_count_split(t, cfg.data.train_split, k, cfg.data.max_train_examples, cfg.task.head == "qa")
              for t in train_txt_dbs(cfg)]
    batch = BatchPlan(cfg.data.batch_size, world, cfg.optim.grad_accum)
    return StepPlan(sum(g for g, _ in counts), batch, cfg.optim.epochs, cfg.optim.max_steps, k,
                    sum(n for _, n in counts))


def launch_summary(cfg: Any, world: int) -> list[str]:
    """The lines `clpbert run` and `clpbert config show` print: the batch and the step arithmetic."""
    if cfg.kind == "eval":  # the trainer builds no training set (msrvtt_mc): no batch, no steps
        splits = ", ".join(s for s in dict.fromkeys((cfg.data.val_split, cfg.data.test_split)) if s)
        return [f"evaluation only: no training steps (evaluates {splits})"]
    batch = BatchPlan(cfg.data.batch_size, world, cfg.optim.grad_accum, cfg.optim.global_batch)
    lines = [batch.describe()]
    if not (cfg.data.dataset or cfg.data.txt_db):
        lines.append("steps: ceil(epochs x G / global batch), G = Σ⌈n_i/k⌉ training groups of the dataset "
                     "(give --dataset to count them)")
        return lines
    from clpbert.errors import UserError

    try:
        plan = plan_steps(cfg, world)
    except (UserError, OSError, ValueError) as e:
        lines.append(f"steps: counted when the run starts ({str(e).split(';')[0]})")
        return lines
    lines.append(StepPlan(plan.groups, batch, plan.epochs, plan.max_steps, plan.k, plan.left_out).describe())
    return lines
