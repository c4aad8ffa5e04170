"""Real decoding: mp4 through decord, GIF through the PyAV fallback, frame counts, RGB order, corruption."""

from __future__ import annotations

import pytest
import torch

from clpbert.data.decode import (
    VideoDecodeError,
    _DecordSource,
    _PyAVSource,
    _SparsePyAVSource,
    load_frames,
    open_video,
    read_indices,
)
from clpbert.data.vis_db import VisRecord

REAL = {  # README.md: frames, (H, W)
    "bigbuckbunny": (132, (720, 1280)),
    "bikes": (250, (272, 640)),
    "tumblr_nk172bbdPI1u1lr18o1_250": (40, (400, 160)),
    "tumblr_no73q2fm0I1uuf348o1_250": (42, (185, 245)),
    "tumblr_n9y2jhq01L1rts5xfo1_250": (28, (400, 160)),
    "tumblr_ndar2w45c51t7jda2o1_250": (85, (321, 233)),
}


@pytest.mark.parametrize("stem", list(REAL))
def test_real_video_frame_count_shape_and_backend(real_videos, stem):
    path = real_videos[stem]
    n, (h, w) = REAL[stem]
    data = path.read_bytes()
    src = open_video(data, path.suffix[1:])
    assert src.num_frames == n
    # mp4: the sparse PyAV reader first; GIF: always the plain PyAV fallback (decord misreads GIFs)
    assert isinstance(src, _SparsePyAVSource if path.suffix == ".mp4" else _PyAVSource)
    frames = read_indices(src, [0, n // 2, n - 1])
    assert frames.shape == (3, 3, h, w) and frames.dtype == torch.uint8
    if path.suffix == ".mp4":
        dec = open_video(data, "mp4", backends=["decord"])
        assert isinstance(dec, _DecordSource) and dec.num_frames == n
        assert read_indices(dec, [0, n - 1]).shape == (2, 3, h, w)
    else:
        with pytest.raises(Exception, match="broken metadata"):  # decord and GIF: dmlc/decord#270
            _DecordSource(data, 1)


@pytest.mark.parametrize("stem", ["bigbuckbunny", "bikes"])
def test_sparse_reader_is_bit_exact_against_a_full_decode(real_videos, stem):
    import av
    import numpy as np

    data = real_videos[stem].read_bytes()
    with av.open(real_videos[stem]) as c:
        ref = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    n = len(ref)
    idx = [n - 1, 3, 4, n // 2, 3, n // 3 + 1, n - 2]  # unsorted, repeated, across GOPs
    got = read_indices(open_video(data, "mp4"), idx)
    for j, i in enumerate(idx):
        assert np.array_equal(got[j].permute(1, 2, 0).numpy(), ref[i]), (stem, i)


def test_sparse_reader_with_b_frames_and_several_gops(mp4):
    import av
    import numpy as np

    colors = [(i * 20 % 256, 255 - i * 9 % 256, i * 37 % 256) for i in range(12)]
    data = mp4(colors, frames_per_color=3, gop=8)  # 36 frames, keyframe every 8, libx264 B-frames
    with av.open(__import__("io").BytesIO(data)) as c:
        ref = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    src = open_video(data, "mp4")
    assert isinstance(src, _SparsePyAVSource) and len(src._keyframes) >= 4
    idx = [0, 1, 9, 10, 17, 30, 35, 35]
    got = read_indices(src, idx)
    assert all(np.array_equal(got[j].permute(1, 2, 0).numpy(), ref[i]) for j, i in enumerate(idx))


def test_gif_last_frame_matches_full_pyav_decode(real_videos):
    import av
    import numpy as np

    path = real_videos["tumblr_no73q2fm0I1uuf348o1_250"]
    with av.open(str(path)) as c:
        ref = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    src = open_video(path.read_bytes(), "gif")
    got = read_indices(src, [41, 0, 41])  # unsorted and repeated indices, gathered in order
    assert np.array_equal(got[0].permute(1, 2, 0).numpy(), ref[41])
    assert np.array_equal(got[1].permute(1, 2, 0).numpy(), ref[0])
    assert torch.equal(got[0], got[2])


def test_decoded_frames_are_rgb_in_time_order(mp4):
    data = mp4([(255, 0, 0), (0, 255, 0), (0, 0, 255)], frames_per_color=5)
    rec = VisRecord(key="rgb", kind="container", ext="mp4", data=data)
    frames = load_frames(rec, lambda n, fps: [2, 7, 12, 2])  # (4, 3, H, W)
    mean = frames.float().mean(dim=(2, 3))  # (4, 3)
    assert mean[0].argmax() == 0 and mean[1].argmax() == 1 and mean[2].argmax() == 2
    assert mean[0, 0] > 200 and mean[0, 1:].max() < 60
    assert torch.equal(frames[0], frames[3])


def test_corrupt_bytes_raise_video_decode_error(mp4):
    data = mp4([(10, 20, 30)])
    for bad in (b"\x00" * 1000, data[: len(data) // 5], b"GIF89a" + b"\x01" * 100):
        with pytest.raises(VideoDecodeError):
            rec = VisRecord(key="bad", kind="container", ext="gif" if bad.startswith(b"GIF") else "mp4",
                            data=bad)
            load_frames(rec, lambda n, fps: [0, n - 1])


@pytest.mark.filterwarnings("ignore:The image decoding:DeprecationWarning")
def test_image_record_decodes_to_rgb(tmp_path):
    import torchvision.io as tio

    img = torch.zeros(3, 20, 30, dtype=torch.uint8)
    img[2] = 255  # blue
    rec = VisRecord(key="im", kind="container", ext="png", data=tio.encode_png(img).numpy().tobytes())
    out = load_frames(rec, lambda n, fps: [0])
    assert out.shape == (1, 3, 20, 30) and torch.equal(out[0], img)


def _frame_store_record(data: bytes, max_side: int) -> VisRecord:
    from clpbert.data.vis_db import pack_frames_from_video

    jpegs, fps = pack_frames_from_video(data, "mp4", 2.0, max_side)
    return VisRecord(key="fs", kind="frames", ext="jpg", frames=jpegs, fps=fps)


@pytest.mark.filterwarnings("ignore:The image decoding:DeprecationWarning")
@pytest.mark.parametrize("stem", ["bigbuckbunny", "bikes", "tumblr_ndar2w45c51t7jda2o1_250"])
def test_sized_load_is_resize_pad_of_the_exact_frames(real_videos, stem):
    """load_frames(size=L) resizes + pads each frame into the output as it is decoded (no full-size
    stack or gather); it must give the very bytes of resize_pad over the exact frames, for the sparse
    reader (mp4), the GIF reader and the frame store, down- and upscaling, with repeated indices."""
    import av
    import numpy as np

    from clpbert.data.transforms import resize_pad

    path = real_videos[stem]
    data = path.read_bytes()
    n = REAL[stem][0]
    idx = [n - 1, 2, 2, n // 2, n // 3 + 1, n // 2, 0, n - 2]
    with av.open(str(path)) as c:  # full sequential decode, keeping the frames asked for
        ref = {i: f.to_ndarray(format="rgb24") for i, f in enumerate(c.decode(video=0)) if i in idx}
    exact = torch.from_numpy(np.stack([ref[i] for i in idx])).permute(0, 3, 1, 2)  # (K, 3, H, W)
    rec = VisRecord(key=stem, kind="container", ext=path.suffix[1:], data=data)
    for L in (448, 96):
        want = resize_pad(exact, L)
        got = load_frames(rec, lambda n_, fps: idx, size=L)
        assert got.shape == (len(idx), 3, L, L) and got.dtype == torch.uint8 and got.is_contiguous()
        assert torch.equal(got, want), (stem, L)
    if stem == "bikes":
        fs = _frame_store_record(data, 448)
        pick = lambda n_, fps: [n_ - 1, 0, n_ // 2, 0]  # noqa: E731
        for L in (448, 160, 640):
            assert torch.equal(load_frames(fs, pick, size=L), resize_pad(load_frames(fs, pick), L))


def test_sized_load_raises_aspect_error_without_a_second_decode(mp4):
    from clpbert.data.transforms import AspectRatioError

    data = mp4([(200, 10, 10)], size=(320, 48), frames_per_color=4)  # 6.7:1
    rec = VisRecord(key="wide", kind="container", ext="mp4", data=data)
    with pytest.raises(AspectRatioError):
        load_frames(rec, lambda n, fps: [0, n - 1], size=64)
    assert load_frames(rec, lambda n, fps: [0, n - 1], size=64, max_aspect=None).shape == (2, 3, 64, 64)


def test_sparse_reader_skips_unwanted_non_reference_frames(real_videos):
    """bikes.mp4 has non-reference B-frames: a sparse read must not decode them (skip_frame=NONREF),
    and what it returns is still bit-exact (test_sparse_reader_is_bit_exact_against_a_full_decode)."""
    data = real_videos["bikes"].read_bytes()
    src = open_video(data, "mp4")
    assert isinstance(src, _SparsePyAVSource)
    decoded = []
    cc = src._stream.codec_context
    real_decode = type(cc).decode

    class Counting:  # wraps the codec context's decode to count the pictures it returns
        def __init__(self, inner):
            self.inner = inner

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def __setattr__(self, name, value):
            if name == "inner":
                object.__setattr__(self, name, value)
            else:
                setattr(self.inner, name, value)

        def decode(self, pkt=None):
            out = real_decode(self.inner, pkt)
            decoded.extend(out)
            return out

    class Stream:
        codec_context = Counting(cc)

    src._stream = Stream()
    wanted = (40, 100, 160)
    got = dict(src.frames(wanted))
    assert sorted(got) == list(wanted)

    def is_reference(pkt) -> bool:  # avcC sample: 4-byte length-prefixed NAL units; nal_ref_idc != 0
        b, i, refs = bytes(pkt), 0, []
        while i + 4 < len(b):
            size = int.from_bytes(b[i:i + 4], "big")
            if b[i + 4] & 31 in (1, 5):  # coded slice (non-IDR / IDR)
                refs.append((b[i + 4] >> 5) & 3 != 0)
            i += 4 + size
        return any(refs)

    wanted_pts = {src._display_pts[i] for i in wanted}
    fed = [p for start, end in src._runs(wanted_pts) for p in src._packets[start:end + 1]]
    needed = [p for p in fed if p.pts in wanted_pts or is_reference(p)]
    assert len(needed) < len(fed)  # the fed GOPs hold unwanted non-reference frames...
    assert len(decoded) == len(needed)  # ...and exactly those were not decoded
