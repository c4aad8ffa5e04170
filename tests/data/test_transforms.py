"""resize_pad: long side -> L (bilinear), short side truncated, zero padding bottom/right, 5:1 limit."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from clpbert.data.transforms import AspectRatioError, resize_pad, target_size


@pytest.mark.parametrize("hw,L,expect", [
    ((720, 1280), 448, (252, 448)),  # bigbuckbunny
    ((272, 640), 448, (190, 448)),  # bikes: int(448 * 272 / 640) = int(190.4)
    ((400, 160), 768, (768, 307)),  # TGIF portrait: int(768 * 0.4) = int(307.2)
    ((3, 7), 10, (4, 10)),  # int(4.28): truncated, not rounded
    ((50, 50), 32, (32, 32)),
])
def test_target_size(hw, L, expect):
    assert target_size(*hw, L) == expect


def test_image_sits_top_left_and_padding_is_zero():
    frames = torch.full((2, 3, 3, 36, 64), 7, dtype=torch.uint8)  # (N, T, 3, H, W)
    out = resize_pad(frames, 32)
    assert out.shape == (2, 3, 3, 32, 32) and out.dtype == torch.uint8
    assert (out[..., :18, :] == 7).all()  # 36x64 -> 18x32
    assert (out[..., 18:, :] == 0).all()


def test_portrait_pads_on_the_right():
    out = resize_pad(torch.full((1, 3, 40, 10), 200, dtype=torch.uint8), 16)
    assert (out[..., :, :4] == 200).all() and (out[..., :, 4:] == 0).all()


def test_resize_matches_float_bilinear_align_corners_false():
    torch.manual_seed(0)
    x = torch.randint(0, 256, (2, 3, 45, 80), dtype=torch.uint8)
    ref = F.interpolate(x.float(), size=(24, 44), mode="bilinear", align_corners=False).round()
    out = resize_pad(x, 44)[..., :24, :]  # int(44 * 45 / 80) = 24
    assert (out.float() - ref).abs().max() <= 1  # uint8 kernel: at most one grey level off


def test_small_images_are_upsampled():
    out = resize_pad(torch.full((1, 3, 8, 16), 9, dtype=torch.uint8), 64)
    assert (out[..., :32, :] == 9).all() and (out[..., 32:, :] == 0).all()


def test_aspect_over_five_to_one_is_rejected():
    with pytest.raises(AspectRatioError):
        resize_pad(torch.zeros(1, 3, 10, 51, dtype=torch.uint8), 32)
    assert resize_pad(torch.zeros(1, 3, 10, 50, dtype=torch.uint8), 32).shape == (1, 3, 32, 32)
