"""AdamW with ClipBERT's parameter groups and its warm-up + linear-decay schedule (spec §4.1).

Groups: transformer vs CNN, each split into decay / no-decay; CNN parameters whose name contains
`optim.cnn_lr_mul_prefix` (`grid_encoder`) get lr × cnn_lr_mul. The CNN has its own learning rate,
weight decay and schedule. Only trainable parameters are included (the frozen stem/res2 and a
frozen CNN are left out). torch.optim.AdamW applies decoupled weight decay like the original's
HF-style AdamW; eps is 1e-6 from the config.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from clpbert.config import OptimConfig

CNN_PREFIX = "cnn."


def is_no_decay(name: str, param: nn.Parameter) -> bool:
    """Biases and norm weights (LayerNorm, trainable BatchNorm) are not decayed; embeddings are."""
    if "bias" in name or "LayerNorm" in name:
        return True
    return param.ndim <= 1 and "norm" in name.lower()


def is_cnn(name: str) -> bool:
    return name.startswith(CNN_PREFIX)


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module under DDP / torch.compile wrappers (its names are the checkpoint's names)."""
    while True:
        if hasattr(model, "_orig_mod"):
            model = model._orig_mod  # type: ignore[assignment]
        elif isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        else:
            return model


def param_groups(model: nn.Module, cfg: OptimConfig) -> list[dict]:
    """Named groups for AdamW; each carries `kind` (transformer|cnn) and `base_lr` for the schedule."""
    groups: dict[str, dict] = {}
    for name, p in unwrap(model).named_parameters():
        if not p.requires_grad:
            continue
        cnn = is_cnn(name)
        if cnn and cfg.freeze_cnn:
            continue
        no_decay = is_no_decay(name, p)
        if cnn:
            prefixed = bool(cfg.cnn_lr_mul_prefix) and cfg.cnn_lr_mul_prefix in name
            key = "cnn_mul" if prefixed else "cnn"
            lr, wd = cfg.cnn_lr * (cfg.cnn_lr_mul if prefixed else 1.0), cfg.cnn_weight_decay
        else:
            key, lr, wd = "transformer", cfg.lr * cfg.transformer_lr_mul, cfg.weight_decay
        key += "_no_decay" if no_decay else "_decay"
        group = groups.setdefault(key, {"name": key, "params": [], "param_names": [], "lr": lr,
                                        "base_lr": lr, "weight_decay": 0.0 if no_decay else wd,
                                        "kind": "cnn" if cnn else "transformer"})
        group["params"].append(p)
        group["param_names"].append(name)
    return list(groups.values())


def build_optimizer(model: nn.Module, cfg: OptimConfig, device: torch.device) -> torch.optim.Optimizer:
    if cfg.optimizer != "adamw":
        from clpbert.errors import ConfigError

        raise ConfigError(f"optim.optimizer={cfg.optimizer!r} is not supported; use adamw")
    groups = param_groups(model, cfg)
    if not groups:
        from clpbert.errors import ConfigError

        raise ConfigError("the model has no trainable parameters (optim.freeze_cnn and frozen layers?)")
    kwargs: dict = {}
    if device.type == "cuda":
        kwargs["fused"] = True
    else:
        kwargs["foreach"] = True
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps, **kwargs)


def lr_factor(step: int, total_steps: int, warmup_ratio: float, schedule: str) -> float:
    """Multiplier of the base lr for the update number `step` (1-based, 1..total_steps).

    Warm-up: step/warmup_steps. Then `linear` decays to 0 at total_steps, `constant` stays at 1.
    The original floors a non-positive lr at 1e-8; `apply_lr` does that.
    """
    total = max(total_steps, 1)
    x = step / total
    if warmup_ratio > 0 and x < warmup_ratio:
        return x / warmup_ratio
    if schedule == "constant":
        return 1.0
    if warmup_ratio >= 1:
        return 1.0
    return max((1.0 - x) / (1.0 - warmup_ratio), 0.0)


@dataclass
class LRState:
    lr: float
    lr_cnn: float


def apply_lr(optimizer: torch.optim.Optimizer, step: int, total_steps: int, cfg: OptimConfig) -> LRState:
    """Set every group's lr for update `step` (1-based); returns the transformer and CNN lrs."""
    f_trf = lr_factor(step, total_steps, cfg.warmup_ratio, cfg.lr_schedule)
    f_cnn = lr_factor(step, total_steps, cfg.warmup_ratio, cfg.cnn_lr_schedule)
    out = LRState(lr=max(cfg.lr * cfg.transformer_lr_mul * f_trf, 1e-8), lr_cnn=max(cfg.cnn_lr * f_cnn, 1e-8))
    for g in optimizer.param_groups:
        f = f_cnn if g.get("kind") == "cnn" else f_trf
        g["lr"] = max(g["base_lr"] * f, 1e-8)
    return out


def total_steps(n_examples: int, epochs: float, world_size: int, batch_size: int, grad_accum: int,
                examples_per_group: int = 1, max_steps: int = 0) -> int:
    """ceil(epochs * N_examples / (n_gpu * bsz * grad_accum * examples_per_group)), or optim.max_steps."""
    if max_steps > 0:
        return max_steps
    denom = max(world_size * batch_size * grad_accum * examples_per_group, 1)
    return max(1, math.ceil(epochs * n_examples / denom))


def valid_steps(total: int, num_valid: int, min_valid_steps: int, explicit: int = 0) -> int:
    """ceil(total / num_valid / min_valid_steps) * min_valid_steps (spec §4.1), or eval.valid_steps."""
    if explicit > 0:
        return explicit
    m = max(min_valid_steps, 1)
    return max(1, math.ceil(total / max(num_valid, 1) / m) * m)
