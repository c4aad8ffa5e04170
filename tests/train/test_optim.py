"""Parameter groups and the learning-rate schedule (spec §4.1)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from clpbert.config import OptimConfig
from clpbert.train import optim


class Tiny(nn.Module):
    """Names shaped like ClipBert's: cnn.* (with a grid_encoder and a frozen stem) and transformer.*"""

    def __init__(self):
        super().__init__()
        self.cnn = nn.Module()
        self.cnn.stem = nn.Conv2d(3, 4, 3)
        self.cnn.stem.requires_grad_(False)
        self.cnn.res3 = nn.Conv2d(4, 4, 3)
        self.cnn.res3_norm = nn.BatchNorm2d(4)
        self.cnn.grid_encoder = nn.Sequential(nn.Conv2d(4, 8, 3, bias=False))
        self.transformer = nn.Module()
        self.transformer.word_embeddings = nn.Embedding(10, 8)
        self.transformer.LayerNorm = nn.LayerNorm(8)
        self.transformer.dense = nn.Linear(8, 8)


def _groups(cfg):
    return {g["name"]: g for g in optim.param_groups(Tiny(), cfg)}


def test_param_groups_split_decay_and_cnn():
    cfg = OptimConfig(lr=1e-4, cnn_lr=2e-4, cnn_lr_mul=3.0, weight_decay=0.01, cnn_weight_decay=0.02)
    g = _groups(cfg)
    names = {k: set(v["param_names"]) for k, v in g.items()}
    assert names["transformer_decay"] == {"transformer.word_embeddings.weight", "transformer.dense.weight"}
    assert names["transformer_no_decay"] == {"transformer.LayerNorm.weight", "transformer.LayerNorm.bias",
                                             "transformer.dense.bias"}
    assert names["cnn_decay"] == {"cnn.res3.weight"}
    assert names["cnn_no_decay"] == {"cnn.res3.bias", "cnn.res3_norm.weight", "cnn.res3_norm.bias"}
    assert names["cnn_mul_decay"] == {"cnn.grid_encoder.0.weight"}
    # frozen stem excluded everywhere
    assert not any("stem" in n for s in names.values() for n in s)
    assert g["transformer_decay"]["lr"] == pytest.approx(1e-4)
    assert g["cnn_decay"]["lr"] == pytest.approx(2e-4)
    assert g["cnn_mul_decay"]["lr"] == pytest.approx(6e-4)
    assert g["transformer_no_decay"]["weight_decay"] == 0.0
    assert g["transformer_decay"]["weight_decay"] == pytest.approx(0.01)
    assert g["cnn_decay"]["weight_decay"] == pytest.approx(0.02)


def test_freeze_cnn_drops_cnn_groups():
    g = _groups(OptimConfig(freeze_cnn=True))
    assert all(not k.startswith("cnn") for k in g)


def test_adamw_uses_config_eps_and_betas():
    opt = optim.build_optimizer(Tiny(), OptimConfig(eps=1e-6, betas=[0.9, 0.98]), torch.device("cpu"))
    assert isinstance(opt, torch.optim.AdamW)
    assert opt.defaults["eps"] == 1e-6 and tuple(opt.defaults["betas"]) == (0.9, 0.98)


def test_linear_schedule_warmup_middle_end():
    total, warm = 100, 0.1
    assert optim.lr_factor(5, total, warm, "linear") == pytest.approx(0.5)  # half-way through warm-up
    assert optim.lr_factor(10, total, warm, "linear") == pytest.approx(1.0)  # peak
    assert optim.lr_factor(55, total, warm, "linear") == pytest.approx(0.5)  # middle of the decay
    assert optim.lr_factor(100, total, warm, "linear") == pytest.approx(0.0)  # end


def test_constant_schedule_and_floor():
    assert optim.lr_factor(90, 100, 0.1, "constant") == pytest.approx(1.0)
    cfg = OptimConfig(lr=1e-3, cnn_lr=1e-2, warmup_ratio=0.1, lr_schedule="linear",
                      cnn_lr_schedule="constant")
    opt = optim.build_optimizer(Tiny(), cfg, torch.device("cpu"))
    lrs = optim.apply_lr(opt, 100, 100, cfg)
    assert lrs.lr == pytest.approx(1e-8)  # decayed to 0 -> floored
    assert lrs.lr_cnn == pytest.approx(1e-2)
    by_kind = {g["kind"]: g["lr"] for g in opt.param_groups}
    assert by_kind["transformer"] == pytest.approx(1e-8) and by_kind["cnn"] == pytest.approx(1e-2)


def test_total_and_valid_steps():
    # ceil(10 epochs * 1000 / (4 gpus * 16 * 1 * 1)) = 157
    assert optim.total_steps(1000, 10, 4, 16, 1) == 157
    assert optim.total_steps(1000, 10, 4, 16, 1, max_steps=5) == 5
    # ceil(157 / 10 / 50) * 50 = 50
    assert optim.valid_steps(157, 10, 50) == 50
    assert optim.valid_steps(10000, 10, 50) == 1000
    assert optim.valid_steps(157, 10, 50, explicit=7) == 7
