"""The grid-feature CNN: a ResNet in detectron2's layout, then the 2048->768 grid encoder.

Why detectron2's layout and not torchvision's: the released ClipBERT checkpoint and the grid-feat
R-50 weights use detectron2 names (`stem.conv1.norm.weight`, `res2.0.shortcut.weight`) and the
MSRA convention of putting a stage's stride-2 on the 1x1 `conv1` (torchvision puts it on the 3x3).
res5 is *not* dilated (ClipBERT overrides the grid-feat yaml), so the backbone stride is 32 and
the grid encoder's 2x2 max-pool makes every visual token cover 64x64 input pixels (spec §1.2, §1.4).

Module names (under `cnn.`):
  feature.backbone.stem.conv1(.norm)
  feature.backbone.res{2..5}.{i}.conv{1,2,3}(.norm), feature.backbone.res{s}.0.shortcut(.norm)
  grid_encoder.0 (Conv2d 3x3, no bias), grid_encoder.1 (MaxPool 2x2), grid_encoder.2 (ReLU)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from clpbert.config import ModelConfig


class FrozenBatchNorm2d(nn.Module):
    """BatchNorm with fixed statistics and affine, all four as buffers (detectron2 "v3" semantics).

    Unlike torchvision's version the folded scale/shift are cast to the input dtype, so a bf16/fp16
    activation stays in that dtype instead of being promoted to fp32 between convolutions.
    """

    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.register_buffer("weight", torch.ones(num_features))
        self.register_buffer("bias", torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features) - eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.weight * (self.running_var + self.eps).rsqrt()  # (C,)
        shift = self.bias - self.running_mean * scale
        return x * scale.to(x.dtype).view(1, -1, 1, 1) + shift.to(x.dtype).view(1, -1, 1, 1)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):  # type: ignore[no-untyped-def]
        # A trainable-BN checkpoint carries num_batches_tracked; FrozenBN has no use for it.
        state_dict.pop(prefix + "num_batches_tracked", None)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}"


def make_norm(kind: str, channels: int) -> nn.Module:
    """`frozen_bn` (the original; needs pretrained statistics) or `bn` (trainable, from scratch)."""
    if kind == "frozen_bn":
        return FrozenBatchNorm2d(channels)
    if kind == "bn":
        return nn.BatchNorm2d(channels, eps=1e-5)
    raise ValueError(f"unknown cnn_norm {kind!r} (frozen_bn or bn)")


class ConvNorm(nn.Conv2d):
    """A bias-free conv whose norm is a child named `norm` (detectron2's Conv2d naming)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, norm: str) -> None:
        super().__init__(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False)
        self.norm = make_norm(norm, cout)
        nn.init.kaiming_normal_(self.weight, mode="fan_out", nonlinearity="relu")  # c2_msra_fill

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(super().forward(x))


class Bottleneck(nn.Module):
    """1x1 (stride here: MSRA) -> 3x3 -> 1x1, projection shortcut when the shape changes."""

    def __init__(self, cin: int, width: int, cout: int, stride: int, norm: str) -> None:
        super().__init__()
        self.shortcut = ConvNorm(cin, cout, 1, stride, norm) if (cin != cout or stride != 1) else None
        self.conv1 = ConvNorm(cin, width, 1, stride, norm)
        self.conv2 = ConvNorm(width, width, 3, 1, norm)
        self.conv3 = ConvNorm(width, cout, 1, 1, norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu_(self.conv1(x))
        out = F.relu_(self.conv2(out))
        out = self.conv3(out)
        identity = x if self.shortcut is None else self.shortcut(x)
        return F.relu_(out + identity)


class Stem(nn.Module):
    """7x7/2 conv + norm + ReLU + 3x3/2 max-pool (stride 4)."""

    def __init__(self, width: int, norm: str) -> None:
        super().__init__()
        self.conv1 = ConvNorm(3, width, 7, 2, norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(F.relu_(self.conv1(x)), kernel_size=3, stride=2, padding=1)


class ResNet(nn.Module):
    """Stem + res2..res5; returns res5 (stride 32) with 32*width channels."""

    def __init__(self, blocks: list[int], width: int = 64, norm: str = "frozen_bn") -> None:
        super().__init__()
        self.stem = Stem(width, norm)
        self.stage_names = [f"res{s}" for s in range(2, 2 + len(blocks))]
        cin = width
        for k, (name, n) in enumerate(zip(self.stage_names, blocks, strict=True)):
            w = width * 2**k  # bottleneck width 64/128/256/512
            cout = w * 4
            stage = nn.Sequential(*[Bottleneck(cin if i == 0 else cout, w, cout,
                                               2 if (i == 0 and k > 0) else 1, norm) for i in range(n)])
            self.add_module(name, stage)
            cin = cout
        self.out_channels = cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for name in self.stage_names:
            x = getattr(self, name)(x)
        return x


class _Detector(nn.Module):
    """Holds `backbone` so names read `cnn.feature.backbone.*` like the original's GeneralizedRCNN.

    The detector's RPN/ROI heads are never built: their checkpoint keys are reported unused.
    """

    def __init__(self, backbone: ResNet) -> None:
        super().__init__()
        self.backbone = backbone


class GridFeatCNN(nn.Module):
    """Frames (RGB, 0-255) -> grid features (B, D, h, w) at stride 64."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.feature = _Detector(ResNet(list(cfg.cnn_blocks), cfg.cnn_width, cfg.cnn_norm))
        cin = self.feature.backbone.out_channels
        self.grid_encoder = nn.Sequential(nn.Conv2d(cin, cfg.hidden_size, 3, padding=1, bias=False),
                                          nn.MaxPool2d(2, 2), nn.ReLU(inplace=True))
        # RGB mean on the 0-255 scale; not in the state dict (the original has no such buffer).
        self.register_buffer("pixel_mean", torch.tensor(cfg.pixel_mean, dtype=torch.float32).view(1, 3, 1, 1),
                             persistent=False)
        self.freeze_at = cfg.cnn_freeze_at
        self.channels_last = False
        self._freeze()

    def frozen_modules(self) -> list[nn.Module]:
        """stem (freeze_at >= 1) and res2..res{freeze_at} (detectron2's FREEZE_AT)."""
        bb = self.feature.backbone
        mods: list[nn.Module] = [bb.stem] if self.freeze_at >= 1 else []
        mods += [getattr(bb, f"res{s}") for s in range(2, self.freeze_at + 1) if hasattr(bb, f"res{s}")]
        return mods

    def _freeze(self) -> None:
        for m in self.frozen_modules():
            for p in m.parameters():
                p.requires_grad_(False)

    def train(self, mode: bool = True) -> GridFeatCNN:
        """Frozen stages keep trainable BatchNorm in eval mode, so their statistics stay fixed too."""
        super().train(mode)
        for m in self.frozen_modules():
            m.eval()
        return self

    def preprocess(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8|float RGB 0-255 (M, 3, L, L) -> float BGR, mean-subtracted, std 1 (spec §1.1)."""
        x = frames.float() - self.pixel_mean
        x = x.flip(1)  # RGB -> BGR
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        x = self.preprocess(frames)  # (M, 3, L, L)
        x = self.feature.backbone(x)  # (M, 32*width, L/32, L/32)
        return self.grid_encoder(x)  # (M, D, L/64, L/64)
