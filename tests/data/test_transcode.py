"""Re-encoding for fast sparse loading (clpbert/data/transcode.py) on the real mp4s."""

from __future__ import annotations

import io

import numpy as np
import pytest

from clpbert.data.decode import VideoDecodeError, _SparsePyAVSource, open_video, read_indices
from clpbert.data.transcode import ReencodeSettings, output_size, reencode_video


def _full_decode(data: bytes) -> np.ndarray:
    import av

    with av.open(io.BytesIO(data)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])  # (n, H, W, 3)


def test_output_size_shrinks_never_enlarges_and_is_even():
    assert output_size(1280, 720, 448) == (448, 252)
    assert output_size(640, 272, 448) == (448, 190)
    assert output_size(272, 640, 448) == (190, 448)
    assert output_size(320, 240, 448) == (320, 240)
    assert output_size(245, 185, 448) == (244, 184)


def test_reencoded_bigbuckbunny_keeps_frames_and_times_and_loads_sparsely(real_videos):
    """bigbuckbunny.mp4 (1280x720, one keyframe, every frame a reference) is the worst case for exact
    sparse decoding; re-encoded it must keep frame count, rate and every timestamp (so sampling picks
    the same indices), get keyframes every `gop` frames, look like the source, and the sparse reader
    must still be bit-exact against a full decode of the new bytes."""
    import av

    from clpbert.data.transforms import resize_long_side

    data = real_videos["bigbuckbunny"].read_bytes()
    st = ReencodeSettings(max_side=224, gop=16, bframes=3)
    out = reencode_video(data, st)
    src, new = open_video(data, "mp4"), open_video(out, "mp4")
    assert isinstance(new, _SparsePyAVSource)
    assert new.num_frames == src.num_frames == 132 and new.fps == pytest.approx(src.fps)
    assert np.allclose(new.timestamps(), src.timestamps(), atol=1e-6)
    assert len(new._keyframes) == -(-132 // 16)
    with av.open(io.BytesIO(out)) as c:
        s = c.streams.video[0]
        assert (s.codec_context.width, s.codec_context.height) == (224, 126)
        types = [f.pict_type.name if hasattr(f.pict_type, "name") else int(f.pict_type) for f in c.decode(s)]
    assert types.count("B") + types.count(3) > 0  # B-frames (non-reference: skipped when not wanted)

    ref = _full_decode(out)
    idx = [131, 5, 40, 40, 77, 0, 100, 17]
    got = read_indices(new, idx)
    for j, i in enumerate(idx):
        assert np.array_equal(got[j].permute(1, 2, 0).numpy(), ref[i]), i
    # close to the source frame shrunk the same way (lossy, crf 20)
    orig = read_indices(src, [0, 66, 131])
    small = resize_long_side(orig, 224, antialias=True)[..., :126, :224].float()
    diff = (small - read_indices(new, [0, 66, 131]).float()).abs().mean()
    assert diff < 6.0, diff


def test_reencode_refuses_bytes_that_are_not_a_video():
    with pytest.raises(VideoDecodeError):
        reencode_video(b"\x00" * 4096)
