"""Gradient accumulation as the original: micro-batch gradients are summed (the loss is not divided
by the accumulation count), then clipped at optim.grad_norm (spec §4.1)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from clpbert.config import load_config
from clpbert.train.loop import Trainer, TrainSource
from clpbert.train.tasks.base import to_device

NO_NOISE = ["model.hidden_dropout=0", "model.attention_dropout=0", "model.cnn_norm=frozen_bn",
            "data.num_workers=0", "data.batch_size=2", "optim.max_steps=4", "eval.valid_steps=4"]


def _trainer(run_dir: Path, dataset: Path, make_config, *sets: str) -> Trainer:
    t = Trainer(load_config(make_config(run_dir, dataset, *NO_NOISE, *sets)), run_dir, resume=False)
    t._build_data()
    t._build_model()
    t._plan()
    t.train_sources = [TrainSource(n, ds, o, 0, 0, t.cfg, t.dist.device)
                       for (n, ds), o in zip(t.train_sets, t.orders, strict=True)]
    return t


def test_accumulated_gradient_is_the_sum_of_the_micro_batch_gradients_then_clipped(
        tiny_demo: Path, tmp_path: Path, make_config):
    t = _trainer(tmp_path / "run", tiny_demo, make_config, "optim.grad_accum=2", "optim.grad_norm=0")
    # the reference: the two micro-batches the step will take, each backpropagated, gradients summed
    source = TrainSource(*t.train_sets[0], t.orders[0], 0, 0, t.cfg, t.dist.device)
    t.train_model.train()
    for _ in range(2):
        batch = to_device(source.next(), t.dist.device)
        t.task.loss(t.train_model, batch, t.cfg).loss.backward()
    summed = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in t.params if p.grad is not None]))
    t.optimizer.zero_grad(set_to_none=True)
    out = t.train_step()
    assert out["grad_norm"] == pytest.approx(float(summed), rel=1e-4)  # averaging would give half

    clipped = _trainer(tmp_path / "clip", tiny_demo, make_config, "optim.grad_accum=2",
                       f"optim.grad_norm={float(summed) / 4}")
    before = {n: p.detach().clone() for n, p in clipped.model.named_parameters() if p.requires_grad}
    grads: dict[str, torch.Tensor] = {}
    orig_step = clipped.scaler.step

    def capture(optimizer):  # the gradient the optimiser sees: clipped to grad_norm
        grads.update({str(i): p.grad.detach().clone() for i, p in enumerate(clipped.params)
                      if p.grad is not None})
        return orig_step(optimizer)

    clipped.scaler.step = capture
    clipped.train_step()
    norm = torch.linalg.vector_norm(torch.stack([g.norm() for g in grads.values()]))
    assert float(norm) == pytest.approx(float(summed) / 4, rel=1e-3)
    assert any(not torch.equal(before[n], p) for n, p in clipped.model.named_parameters() if n in before)
