"""Bytes -> uint8 RGB frames (K, 3, H, W): containers, images and frame-store JPEGs.

Containers are opened ONCE per example and every clip's frame indices are decoded together
(`load_frames` / `read_indices`: unique indices in order, then gathered), instead of re-opening and
seeking per clip as the original did. Readers, tried in `BACKENDS` order:

  sparse  PyAV; demuxes once, decodes only the GOPs holding wanted frames and lets FFmpeg skip
          non-reference frames nobody asked for. Bit-identical to a full decode; the fastest per core
          (benchmarks/bench_loader.py), so it goes first.
  decord  random access through its keyframe index (`decord.VideoReader(io.BytesIO(data))` +
          `get_batch`); used when the sparse reader refuses a stream (no pts, odd containers).
  pyav    plain sequential decode; the only one for GIF (decord misreads GIF metadata,
          dmlc/decord#270) and for streams without a frame count.

Images go through torchvision.io.decode_image (PIL fallback), frame-store JPEGs through a batched
torchvision.io.decode_jpeg (nvJPEG when `device="cuda"`). Anything that cannot be decoded raises
`VideoDecodeError`, which the datasets catch, count and skip.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from clpbert.data.vis_db import VisRecord



@contextlib.contextmanager
def quiet_tv_image_io() -> Iterator[None]:
    """torchvision 0.29 deprecates its image codecs (for torchcodec); they are still the fastest CPU
    and the only nvJPEG path here, so they are used with that one warning silenced."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The image decoding and encoding capabilities",
                                category=DeprecationWarning)
        yield


PYAV_ONLY_EXTS = frozenset({"gif"})

# (n_frames, fps) -> frame indices, every clip concatenated (see sampling.py).
IndexPicker = Callable[[int, float], Sequence[int]]


class VideoDecodeError(Exception):
    """The bytes are not a decodable video/image (corrupt, truncated, unsupported, no frames)."""


def _hwc_to_chw(arr: np.ndarray) -> torch.Tensor:
    """numpy uint8 (K, H, W, 3) -> torch uint8 (K, 3, H, W) (a channels-last view, no copy)."""
    return torch.from_numpy(np.ascontiguousarray(arr)).permute(0, 3, 1, 2)


class VideoSource:
    """An opened video: its frame count, its average frame rate, and random access by index."""

    num_frames: int
    fps: float

    def get(self, indices: Sequence[int]) -> torch.Tensor:  # uint8 (K, 3, H, W)
        raise NotImplementedError


class _DecordSource(VideoSource):
    def __init__(self, data: bytes, num_threads: int):
        import decord

        self._vr = decord.VideoReader(io.BytesIO(data), num_threads=num_threads)
        self.num_frames = len(self._vr)
        self.fps = float(self._vr.get_avg_fps() or 0.0)
        if self.num_frames <= 0:
            raise VideoDecodeError("decord found no frames")

    def get(self, indices: Sequence[int]) -> torch.Tensor:
        batch = self._vr.get_batch(list(indices))
        arr = batch.asnumpy() if hasattr(batch, "asnumpy") else np.asarray(batch)
        return _hwc_to_chw(arr)

    def timestamps(self) -> np.ndarray:
        """Start time (s) of every frame."""
        return np.asarray(self._vr.get_frame_timestamp(list(range(self.num_frames))))[:, 0]


class _SparsePyAVSource(VideoSource):
    """Demux once (cheap, no decoding), then decode only what the wanted frames depend on.

    Packets come in decode order with their pts; frame index i is the i-th pts in display order.
    For the wanted frames we feed only the GOPs that contain them (from the keyframe before each one,
    or the one before that for a leading picture of an open GOP), drain and reset the decoder between
    GOP runs, and let FFmpeg skip non-reference frames nobody asked for (`skip_frame=NONREF`; nothing
    can reference them). The frames are bit-identical to a full sequential decode (tested) and it
    decodes far fewer pictures than decord's seek-per-batch or the original's open-per-clip.
    """

    def __init__(self, data: bytes):
        import av

        self._data = data
        self._container = av.open(io.BytesIO(data), metadata_errors="ignore")
        if not self._container.streams.video:
            raise VideoDecodeError("no video stream")
        self._stream = stream = self._container.streams.video[0]
        stream.thread_type = "NONE"
        packets = [p for p in self._container.demux(stream) if p.size > 0 and p.pts is not None]
        if not packets:
            raise VideoDecodeError("no video packets with timestamps")
        self._packets = packets
        self._display_pts = sorted(p.pts for p in packets)
        self._pos_of_pts = {p.pts: i for i, p in enumerate(packets)}
        self._keyframes = [i for i, p in enumerate(packets) if p.is_keyframe] or [0]
        self.num_frames = len(packets)
        rate = float(stream.average_rate) if stream.average_rate else 0.0
        if rate <= 0:
            span = (self._display_pts[-1] - self._display_pts[0]) * float(stream.time_base or 0)
            rate = (len(packets) - 1) / span if span > 0 else 1.0
        self.fps = rate

    def _runs(self, wanted_pts: set[int]) -> list[tuple[int, int]]:
        """Decode-order packet ranges [start, end] that produce every wanted frame."""
        import bisect

        runs: list[tuple[int, int]] = []
        for q in sorted(self._pos_of_pts[t] for t in wanted_pts):
            k = bisect.bisect_right(self._keyframes, q) - 1
            k = max(k, 0)
            if self._packets[q].pts < self._packets[self._keyframes[k]].pts and k > 0:
                k -= 1  # a leading picture may reference the previous GOP
            start = self._keyframes[k]
            if runs and start <= runs[-1][1] + 1:
                runs[-1] = (runs[-1][0], max(runs[-1][1], q))
            else:
                runs.append((start, q))
        return runs

    def timestamps(self) -> np.ndarray:
        """Display time (s) of every frame, from the first frame."""
        tb = float(self._stream.time_base or 0) or 1.0 / max(self.fps, 1e-6)
        return (np.asarray(self._display_pts, dtype=np.float64) - self._display_pts[0]) * tb

    def get(self, indices: Sequence[int]) -> torch.Tensor:
        try:
            return self._get(indices)
        except Exception:  # a stream the GOP logic cannot handle: decode it all, in order
            return _PyAVSource(self._data).get(indices)

    def _get(self, indices: Sequence[int]) -> torch.Tensor:
        wanted_pts = {self._display_pts[int(i)] for i in indices}
        cc = self._stream.codec_context
        found: dict[int, np.ndarray] = {}

        def take(frames) -> None:
            for f in frames:
                if f.pts in wanted_pts and f.pts not in found:
                    found[f.pts] = f.to_ndarray(format="rgb24")

        for start, end in self._runs(wanted_pts):
            for pkt in self._packets[start:end + 1]:
                cc.skip_frame = "DEFAULT" if (pkt.pts in wanted_pts or pkt.is_keyframe) else "NONREF"
                take(cc.decode(pkt))
            cc.skip_frame = "DEFAULT"
            take(cc.decode(None))  # drain the reorder buffer, then reset for the next run
            cc.flush_buffers()
        if len(found) < len(wanted_pts):
            raise VideoDecodeError(f"sparse decode produced {len(found)} of {len(wanted_pts)} frames")
        return _hwc_to_chw(np.stack([found[self._display_pts[int(i)]] for i in indices]))


class _PyAVSource(VideoSource):
    """Sequential PyAV decode; converts only the frames asked for. Counts frames when the header lacks it."""

    def __init__(self, data: bytes):
        import av

        self._data = data
        with av.open(io.BytesIO(data), metadata_errors="ignore") as container:
            if not container.streams.video:
                raise VideoDecodeError("no video stream")
            stream = container.streams.video[0]
            n = int(stream.frames or 0)
            rate = float(stream.average_rate) if stream.average_rate else 0.0
            duration = (float(stream.duration * stream.time_base)
                        if stream.duration and stream.time_base else 0.0)
        if n <= 0:  # no count in the header: decode once to count
            n = sum(1 for _ in self._frames())
        if n <= 0:
            raise VideoDecodeError("no frames decoded")
        if rate <= 0:
            rate = n / duration if duration > 0 else 1.0
        self.num_frames, self.fps = n, rate

    def _frames(self):
        import av

        with av.open(io.BytesIO(self._data), metadata_errors="ignore") as container:
            stream = container.streams.video[0]
            stream.thread_type = "NONE"
            yield from container.decode(stream)

    def get(self, indices: Sequence[int]) -> torch.Tensor:
        wanted = sorted(set(int(i) for i in indices))
        found: dict[int, np.ndarray] = {}
        last = wanted[-1]
        i = -1
        for i, frame in enumerate(self._frames()):
            if i in wanted:
                found[i] = frame.to_ndarray(format="rgb24")
            if i >= last:
                break
        if not found:
            raise VideoDecodeError("no frames decoded")
        # A header that over-counts frames: clamp the missing tail to the last decoded frame.
        top = max(found)
        arr = np.stack([found.get(j, found[top]) if j > top else found[j] for j in indices])
        return _hwc_to_chw(arr)


BACKENDS = ("sparse", "decord", "pyav")
"""Container readers in the order tried: `sparse` (PyAV, decodes only the needed GOPs, skips unneeded
non-reference frames; fastest per core in benchmarks/bench_loader.py), `decord`, `pyav` (plain
sequential decode; the one that takes GIFs and streams without timestamps)."""


def open_video(data: bytes, ext: str, num_threads: int = 1,
               backends: Sequence[str] | None = None) -> VideoSource:
    """Open container bytes with the first backend that accepts them (GIF: plain PyAV only).

    $CLPBERT_VIDEO_BACKENDS (comma-separated) overrides the order, e.g. `decord,pyav`.
    """
    order = list(backends or os.environ.get("CLPBERT_VIDEO_BACKENDS", "").split(",") or BACKENDS)
    order = [b for b in order if b in BACKENDS] or list(BACKENDS)
    if ext in PYAV_ONLY_EXTS:
        order = ["pyav"]
    errors = []
    for name in order:
        try:
            if name == "sparse":
                return _SparsePyAVSource(data)
            if name == "decord":
                return _DecordSource(data, num_threads)
            return _PyAVSource(data)
        except VideoDecodeError as e:
            errors.append(f"{name}: {e}")
        except Exception as e:  # decord's DECORDError, av.error.* for corrupt data
            errors.append(f"{name}: {type(e).__name__}: {str(e).splitlines()[-1] if str(e) else ''}")
    raise VideoDecodeError("; ".join(errors))


def read_indices(source: VideoSource, indices: Sequence[int]) -> torch.Tensor:
    """Decode the unique indices once (ascending), then gather to the requested order. uint8 (K,3,H,W)."""
    idx = np.asarray(indices, dtype=np.int64)
    uniq, inverse = np.unique(idx, return_inverse=True)
    try:
        frames = source.get(uniq.tolist())
    except VideoDecodeError:
        raise
    except Exception as e:
        raise VideoDecodeError(f"{type(e).__name__}: {e}") from e
    return frames[torch.from_numpy(inverse.reshape(-1))]


def decode_image(data: bytes) -> torch.Tensor:
    """Image bytes (jpg/png/...) -> uint8 (3, H, W) RGB (grey and RGBA are converted).

    torchvision first; PIL when torchvision refuses (its libpng build rejects some valid PNGs).
    """
    from torchvision.io import ImageReadMode
    from torchvision.io import decode_image as tv_decode_image

    try:
        with quiet_tv_image_io():
            raw = torch.frombuffer(bytearray(data), dtype=torch.uint8)
            return tv_decode_image(raw, mode=ImageReadMode.RGB)
    except Exception as first:
        try:
            from PIL import Image

            with Image.open(io.BytesIO(data)) as im:
                arr = np.asarray(im.convert("RGB"))
            return torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()
        except Exception as e:
            raise VideoDecodeError(f"image: {type(first).__name__}: {first}; PIL: {e}") from e


def decode_jpegs(jpegs: Sequence[bytes], device: str | torch.device = "cpu") -> list[torch.Tensor]:
    """Batched JPEG decode -> list of uint8 (3, H, W) on `device` (nvJPEG on CUDA)."""
    from torchvision.io import ImageReadMode, decode_jpeg

    if not jpegs:
        return []
    tensors = [torch.frombuffer(bytearray(j), dtype=torch.uint8) for j in jpegs]
    try:
        with quiet_tv_image_io():
            return list(decode_jpeg(tensors, mode=ImageReadMode.RGB, device=device))
    except Exception as e:
        raise VideoDecodeError(f"jpeg: {type(e).__name__}: {e}") from e


def load_frames(record: VisRecord, pick: IndexPicker, device: str | torch.device = "cpu",
                num_threads: int = 1) -> torch.Tensor:
    """Decode the frames `pick(n, fps)` chooses from one vis_db record, in that order.

    Returns uint8 (K, 3, H, W) RGB with K = len(pick(...)). Images count as a 1-frame video at fps 1.
    For a frame store `n`/`fps` are the stored frames and their rate. Raises VideoDecodeError.
    """
    if record.kind == "frames":
        frames = record.frames or []
        if not frames:
            raise VideoDecodeError(f"{record.key}: empty frame store entry")
        idx = np.asarray(pick(len(frames), float(record.fps or 1.0)), dtype=np.int64)
        uniq, inverse = np.unique(idx, return_inverse=True)
        decoded = decode_jpegs([frames[i] for i in uniq.tolist()], device=device)
        stacked = torch.stack(decoded)  # (U, 3, H, W)
        return stacked[torch.from_numpy(inverse.reshape(-1)).to(stacked.device)]
    data = record.data or b""
    if record.is_image:
        idx = pick(1, 1.0)
        img = decode_image(data).to(device)
        return img.unsqueeze(0).expand(len(idx), -1, -1, -1)
    source = open_video(data, record.ext, num_threads=num_threads)
    frames = read_indices(source, pick(source.num_frames, source.fps))
    return frames.to(device) if str(device) != "cpu" else frames


def sample_video_at_fps(data: bytes, ext: str, fps: float,
                        num_threads: int = 1) -> tuple[torch.Tensor, float]:
    """Decode a container once and keep one frame per 1/fps seconds (the frame shown at that time).

    Returns (uint8 (n, 3, H, W), the rate used). A source slower than `fps` keeps all its frames and
    reports its own average rate. Uses real frame times, so GIFs with uneven frame delays are sampled
    by time, not by index.
    """
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    source = open_video(data, ext, num_threads=num_threads)
    if isinstance(source, (_DecordSource, _SparsePyAVSource)):
        try:
            times = source.timestamps()
        except Exception:
            times = np.arange(source.num_frames) / max(source.fps, 1e-6)
        picks, used = _picks_by_time(times, fps, source.fps)
        return read_indices(source, picks), used
    return _pyav_sample_by_time(source, fps)


def _picks_by_time(times: np.ndarray, fps: float, src_fps: float) -> tuple[list[int], float]:
    n = len(times)
    if src_fps > 0 and src_fps <= fps:
        return list(range(n)), float(src_fps)
    t0 = float(times[0]) if n else 0.0
    end = float(times[-1]) if n else 0.0
    targets = t0 + np.arange(0, int(np.floor((end - t0) * fps + 1e-9)) + 1) / fps
    picks = np.clip(np.searchsorted(times, targets + 1e-6, side="right") - 1, 0, n - 1)
    return picks.tolist(), float(fps)


def _pyav_sample_by_time(source: _PyAVSource, fps: float) -> tuple[torch.Tensor, float]:
    """Stream the frames; for each target time emit the last frame whose time is <= it."""
    keep_all = source.fps <= fps
    step = 1.0 / fps
    out: list[np.ndarray] = []
    prev_t, prev_frame, prev_rgb = 0.0, None, None
    next_t: float | None = None
    try:
        for i, frame in enumerate(source._frames()):
            t = float(frame.time) if frame.time is not None else i / max(source.fps, 1e-6)
            if keep_all:
                out.append(frame.to_ndarray(format="rgb24"))
                continue
            if next_t is None:
                next_t = t
            while prev_frame is not None and t > next_t + 1e-6:
                if prev_rgb is None:
                    prev_rgb = prev_frame.to_ndarray(format="rgb24")
                out.append(prev_rgb)
                next_t += step
            prev_t, prev_frame, prev_rgb = t, frame, None
        while not keep_all and prev_frame is not None and next_t is not None and next_t <= prev_t + 1e-6:
            if prev_rgb is None:
                prev_rgb = prev_frame.to_ndarray(format="rgb24")
            out.append(prev_rgb)
            next_t += step
    except Exception as e:
        raise VideoDecodeError(f"pyav: {type(e).__name__}: {e}") from e
    if not out:
        raise VideoDecodeError("no frames decoded")
    return _hwc_to_chw(np.stack(out)), (source.fps if keep_all else float(fps))
