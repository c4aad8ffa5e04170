"""fp16 as the original (dynamic loss scaling with apex's defaults), bf16 where the GPU has it."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from clpbert.model.precision import LOSS_SCALE, make_grad_scaler, resolve_precision, scaled_step


def test_auto_is_bf16_only_on_gpus_that_have_it_else_the_originals_fp16():
    assert resolve_precision("cuda", "auto", bf16_supported=True) == "bf16"
    assert resolve_precision("cuda", "auto", bf16_supported=False) == "fp16"  # V100 / T4 / 1080Ti
    assert resolve_precision("cpu", "auto", bf16_supported=False) == "fp32"
    assert resolve_precision("cuda", "bf16", bf16_supported=False) == "bf16"  # asked explicitly


def test_loss_scaler_uses_apex_dynamic_defaults():
    assert LOSS_SCALE == {"init_scale": 65536.0, "growth_factor": 2.0, "backoff_factor": 0.5,
                          "growth_interval": 2000}
    scaler = make_grad_scaler("cpu", "fp32")
    assert not scaler.is_enabled()


def test_an_overflow_skips_the_step_and_halves_the_scale_then_clean_steps_apply():
    """The same GradScaler class the trainer uses, on the CPU (the trainer enables it for fp16 on GPU)."""
    lin = nn.Linear(3, 1)
    opt = torch.optim.AdamW(lin.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu", **LOSS_SCALE)
    before = lin.weight.detach().clone()
    scaler.scale(lin(torch.full((1, 3), float("inf"))).sum()).backward()
    assert scaled_step(scaler, opt) is True  # "Gradient overflow. Skipping step"
    assert torch.equal(lin.weight, before) and scaler.get_scale() == pytest.approx(2.0**15)
    opt.zero_grad()
    scaler.scale(lin(torch.ones(1, 3)).sum()).backward()
    assert scaled_step(scaler, opt) is False and not torch.equal(lin.weight, before)
    assert scaler.get_scale() == pytest.approx(2.0**15)  # grows only after 2000 clean steps
