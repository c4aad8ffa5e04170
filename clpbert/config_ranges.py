"""Value ranges of a RunConfig that types alone do not catch.

Checked when a config is resolved (so `clpbert config show` and `clpbert run` refuse the same
values), never first inside the trainer: a negative max_steps used to be ignored, a negative or
NaN learning rate failed only after the run had been created.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from clpbert.errors import ConfigError

POSITIVE = ("optim.lr", "data.fps", "optim.epochs")
"""Must be > 0."""

AT_LEAST_ONE = ("model.hidden_size", "model.num_layers", "model.num_heads", "model.intermediate_size",
                "model.vocab_size", "model.max_position_embeddings", "model.max_grid_size",
                "model.classifier_hidden", "model.cnn_width", "task.num_labels", "task.num_options",
                "data.inference_batch_size", "eval.num_valid", "eval.eval_retrieval_batch_size")

NON_NEGATIVE = ("optim.cnn_lr", "optim.eps", "optim.weight_decay", "optim.cnn_weight_decay",
                "optim.grad_norm", "optim.max_steps", "optim.transformer_lr_mul", "optim.cnn_lr_mul",
                "model.cnn_freeze_at", "model.pixel_random_sampling_size", "task.min_num_labels",
                "task.itm_neg_size", "data.max_train_examples", "data.max_eval_examples",
                "data.max_n_example_per_group", "eval.min_valid_steps", "eval.valid_steps", "eval.keep_last",
                "runtime.log_every", "runtime.num_threads", "runtime.checkpoint_every",
                "runtime.time_limit_s")

PROBABILITY = ("model.hidden_dropout", "model.attention_dropout", "task.itm_neg_prob", "task.mlm_prob",
               "optim.warmup_ratio")
"""Must lie in [0, 1]."""


def _numbers(value: Any) -> list[float]:
    if isinstance(value, bool):
        return []
    if isinstance(value, (int, float)):
        return [float(value)]
    if isinstance(value, (list, tuple)):
        return [float(v) for v in value if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return []


def _get(cfg: Any, key: str) -> Any:
    section, name = key.split(".")
    return getattr(getattr(cfg, section), name)


def check_ranges(cfg: Any) -> None:
    """ConfigError (one line: the key, the value, the allowed range) for the first value out of range."""
    for f in dataclasses.fields(cfg):
        section = getattr(cfg, f.name)
        if not dataclasses.is_dataclass(section):
            continue
        for g in dataclasses.fields(section):
            if any(not math.isfinite(v) for v in _numbers(getattr(section, g.name))):
                raise ConfigError(f"{f.name}.{g.name}={getattr(section, g.name)!r} is not a finite number; "
                                  "give a real value")
    for key in POSITIVE:
        if _get(cfg, key) <= 0:
            raise ConfigError(f"{key} must be greater than 0, got {_get(cfg, key)!r}")
    for key in AT_LEAST_ONE:
        if _get(cfg, key) < 1:
            raise ConfigError(f"{key} must be at least 1, got {_get(cfg, key)!r}")
    for key in NON_NEGATIVE:
        if _get(cfg, key) < 0:
            raise ConfigError(f"{key} must not be negative, got {_get(cfg, key)!r}"
                              + (" (0 = from optim.epochs)" if key == "optim.max_steps" else ""))
    if cfg.data.num_workers < -1:
        raise ConfigError(f"data.num_workers must be -1 (fit the machine's cores) or more, got "
                          f"{cfg.data.num_workers!r}")
    for key in PROBABILITY:
        if not 0 <= _get(cfg, key) <= 1:
            raise ConfigError(f"{key} must lie in [0, 1], got {_get(cfg, key)!r}")
    betas = cfg.optim.betas
    if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
        raise ConfigError(f"optim.betas needs two values in [0, 1), e.g. 0.9,0.98; got {betas!r}")
