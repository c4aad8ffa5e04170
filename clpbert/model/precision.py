"""Mixed precision: which dtype a run computes in, the autocast context, and the GradScaler.

bf16 autocast is the default on GPUs that have bf16 (no loss scaling needed, safer than the
original's apex O2 fp16); on GPUs without it (V100, T4, 1080Ti: the original's hardware) `auto` is
fp16. fp16 reproduces the original's regime: autocast + dynamic loss scaling with apex's defaults
(start at 2^16, halve and skip the step on an overflow, double after 2000 clean steps). CPU runs
fp32 unless bf16 is asked for. Weights always stay fp32 (master weights), so checkpoints are fp32
like the released one.
"""

from __future__ import annotations

import contextlib

import torch

PRECISIONS = ("auto", "bf16", "fp16", "fp32")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def _device_type(device: torch.device | str) -> str:
    return torch.device(device).type


# apex amp's dynamic loss scaler (the original's `fp16: 1`), in GradScaler's terms
LOSS_SCALE = {"init_scale": 2.0**16, "growth_factor": 2.0, "backoff_factor": 0.5, "growth_interval": 2000}


def _cuda_has_bf16() -> bool:
    """The visible GPU computes bf16 natively (Ampere and later); True when no GPU can be asked."""
    if not torch.cuda.is_available():
        return True
    return bool(torch.cuda.is_bf16_supported(including_emulation=False))


def resolve_precision(device: torch.device | str, precision: str = "auto",
                      bf16_supported: bool | None = None) -> str:
    """`auto` -> bf16 on a CUDA GPU with bf16, fp16 on one without, fp32 elsewhere; fp16 on CPU
    falls back to fp32. `bf16_supported` overrides the GPU's answer (None: ask the GPU)."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; expected one of {PRECISIONS}")
    kind = _device_type(device)
    if precision == "auto":
        if kind != "cuda":
            return "fp32"
        has_bf16 = _cuda_has_bf16() if bf16_supported is None else bf16_supported
        return "bf16" if has_bf16 else "fp16"
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
    return torch.amp.GradScaler(_device_type(device), enabled=(p == "fp16"), **LOSS_SCALE)


def scaled_step(scaler: torch.amp.GradScaler, optimizer: torch.optim.Optimizer) -> bool:
    """scaler.step + update; True when the step was skipped for an inf/NaN gradient (apex's
    "Gradient overflow. Skipping step, loss scaler reducing loss scale")."""
    before = scaler.get_scale() if scaler.is_enabled() else None
    scaler.step(optimizer)
    scaler.update()
    return before is not None and scaler.get_scale() < before
