"""Mixed precision: which dtype a run computes in, the autocast context, and the GradScaler.

bf16 autocast is the GPU default (no loss scaling needed, safer than the original's apex O2 fp16);
fp16 + GradScaler reproduces the original's regime; CPU runs fp32 unless bf16 is asked for.
Weights always stay fp32 (master weights), so checkpoints are fp32 like the released one.
"""

from __future__ import annotations

import contextlib

import torch

PRECISIONS = ("auto", "bf16", "fp16", "fp32")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def _device_type(device: torch.device | str) -> str:
    return torch.device(device).type


def resolve_precision(device: torch.device | str, precision: str = "auto") -> str:
    """`auto` -> bf16 on CUDA, fp32 elsewhere; fp16 on CPU is refused (no CPU GradScaler benefit)."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; expected one of {PRECISIONS}")
    kind = _device_type(device)
    if precision == "auto":
        return "bf16" if kind == "cuda" else "fp32"
    if precision == "fp16" and kind != "cuda":
        return "fp32"
    return precision


def autocast_context(device: torch.device | str,
                     precision: str = "auto") -> contextlib.AbstractContextManager:
    """torch.autocast for bf16/fp16, a no-op context for fp32."""
    p = resolve_precision(device, precision)
    if p == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=_device_type(device), dtype=_DTYPES[p])


def make_grad_scaler(device: torch.device | str, precision: str = "auto") -> torch.amp.GradScaler:
    """A GradScaler enabled only for fp16 (call `scaler.unscale_(opt)` before clipping gradients)."""
    p = resolve_precision(device, precision)
    return torch.amp.GradScaler(_device_type(device), enabled=(p == "fp16"))
