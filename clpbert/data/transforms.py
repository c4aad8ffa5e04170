"""Frame geometry (spec §1.3): long side -> L by bilinear resize, then zero-pad bottom/right to L x L.

Works on uint8 tensors (..., 3, H, W) on CPU or GPU and returns uint8, so batches travel small and
normalisation happens in the model. On CPU the uint8 bilinear kernel is used directly (fast, no float
copy); elsewhere the frames go through float32 and are rounded back. There is no augmentation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

MAX_ASPECT = 5.0


class AspectRatioError(ValueError):
    """The frame is more than 5:1 (either way); the original rejects such videos (spec §1.3)."""


def target_size(h: int, w: int, L: int) -> tuple[int, int]:
    """(h', w') with the long side = L and the short side int(L * short / long), truncated."""
    if h >= w:
        return L, max(1, int(L * w / h))
    return max(1, int(L * h / w)), L


def check_aspect(h: int, w: int, max_aspect: float = MAX_ASPECT) -> None:
    if min(h, w) <= 0 or max(h, w) / min(h, w) > max_aspect:
        raise AspectRatioError(f"frame {w}x{h} exceeds the {max_aspect:g}:1 aspect limit")


def _interpolate_uint8(x: torch.Tensor, size: tuple[int, int], antialias: bool) -> torch.Tensor:
    """Bilinear, align_corners=False, uint8 in and out. x: (B, 3, H, W)."""
    if x.device.type == "cpu":
        try:  # the uint8 kernel is ~2x faster on channels-last input (decoded frames already are)
            x = x.contiguous(memory_format=torch.channels_last)
            return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=antialias)
        except RuntimeError:  # an old torch without the uint8 kernel
            pass
    y = F.interpolate(x.float(), size=size, mode="bilinear", align_corners=False, antialias=antialias)
    return y.round_().clamp_(0, 255).to(torch.uint8)


def resize_long_side(frames: torch.Tensor, L: int, antialias: bool = False) -> torch.Tensor:
    """uint8 (..., 3, H, W) -> uint8 (..., 3, h', w') with the long side L (see `target_size`)."""
    h, w = frames.shape[-2:]
    size = target_size(h, w, L)
    if (h, w) == size:
        return frames
    if frames.dim() == 4:  # no reshape: it would reset a 1-image batch's stride and lose channels-last
        return _interpolate_uint8(frames, size, antialias)
    lead = frames.shape[:-3]
    flat = frames.reshape(-1, *frames.shape[-3:])
    out = _interpolate_uint8(flat, size, antialias)
    return out.reshape(*lead, *out.shape[-3:])


def resize_pad(frames: torch.Tensor, L: int, max_aspect: float | None = MAX_ASPECT) -> torch.Tensor:
    """uint8 (..., 3, H, W) -> uint8 (..., 3, L, L): long side -> L, zeros at the bottom/right.

    Raises AspectRatioError when the aspect ratio exceeds `max_aspect` (None disables the check),
    so the dataset can skip the item as the original does.
    """
    h, w = frames.shape[-2:]
    if max_aspect is not None:
        check_aspect(h, w, max_aspect)
    resized = resize_long_side(frames, L)
    rh, rw = resized.shape[-2:]
    if (rh, rw) == (L, L):
        return resized.contiguous()
    out = frames.new_zeros((*frames.shape[:-2], L, L))
    out[..., :rh, :rw] = resized
    return out


def shrink_to_max_side(frames: torch.Tensor, max_side: int) -> torch.Tensor:
    """Downscale only (antialiased) so the long side is at most `max_side`; used to pack frame stores."""
    h, w = frames.shape[-2:]
    if max(h, w) <= max_side:
        return frames
    return resize_long_side(frames, max_side, antialias=True)
