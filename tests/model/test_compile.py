"""torch.compile opt-in with eager fallback; precision helpers."""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from clpbert.model import autocast_context, compile_failed, make_grad_scaler, maybe_compile, resolve_precision


def _broken_backend(gm, example_inputs):  # type: ignore[no-untyped-def]
    raise AssertionError("simulated Inductor assertion")


def test_failed_compilation_falls_back_to_eager_and_keeps_names() -> None:
    torch.manual_seed(0)
    lin = nn.Linear(4, 3)
    x = torch.randn(2, 4)
    expect = lin(x)
    names = list(lin.state_dict())
    same = maybe_compile(lin, True, backend=_broken_backend)
    assert same is lin and list(lin.state_dict()) == names
    torch.testing.assert_close(lin(x), expect)  # first call: compile fails, eager answers
    assert compile_failed(lin) is not None
    torch.testing.assert_close(lin(x), expect)


def test_disabled_compile_returns_the_module_untouched() -> None:
    lin = nn.Linear(2, 2)
    assert maybe_compile(lin, False) is lin and "forward" not in lin.__dict__
    assert compile_failed(lin) is None


def test_precision_defaults_and_contexts() -> None:
    assert resolve_precision("cpu") == "fp32"
    assert resolve_precision("cuda") == "bf16"
    assert resolve_precision("cpu", "fp16") == "fp32"
    assert resolve_precision("cuda", "fp16") == "fp16"
    assert isinstance(autocast_context("cpu"), contextlib.nullcontext)
    with autocast_context("cpu", "bf16"):
        assert nn.Linear(2, 2)(torch.randn(1, 2)).dtype == torch.bfloat16
    assert not make_grad_scaler("cpu").is_enabled()
