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

`load_frames(..., size=L)` returns the loader's final L x L frames (`transforms.resize_pad`, same bytes)
built frame by frame into one output buffer as each frame is decoded: no stack of full-size frames, no
gather of them, no layout round trips (on a 720p video those copies cost a third of the decode).
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

from clpbert.data.transforms import (
    MAX_ASPECT,
    AspectRatioError,
    check_aspect,
    resize_long_side,
    resize_pad,
    target_size,
)

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


class _FrameSink:
    """Collects decoded frames into the output tensor, each frame written to every slot that asked for it.

    size None: uint8 (K, 3, H, W), a channels-last view of one (K, H, W, 3) buffer.
    size L:    uint8 (K, 3, L, L) contiguous, each frame resized (long side L, `transforms`' uint8 bilinear)
               and zero-padded bottom/right: byte-identical to `resize_pad` on the unsized result.
    """

    def __init__(self, indices: Sequence[int], size: int | None = None, max_aspect: float | None = None):
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        self.n = len(idx)
        self.size = size
        self.max_aspect = max_aspect
        self.slots: dict[int, list[int]] = {}
        for k, i in enumerate(idx.tolist()):
            self.slots.setdefault(i, []).append(k)
        self.wanted = sorted(self.slots)  # distinct indices, ascending
        self.filled: set[int] = set()
        self._out: np.ndarray | None = None

    @property
    def missing(self) -> list[int]:
        return [i for i in self.wanted if i not in self.filled]

    def put(self, index: int, hwc: np.ndarray | torch.Tensor) -> None:
        """One decoded frame, uint8 (H, W, 3) RGB (numpy or a CPU tensor)."""
        if index in self.filled or index not in self.slots:
            return
        arr = hwc.numpy() if isinstance(hwc, torch.Tensor) else hwc
        h, w = arr.shape[:2]
        if self.size is None:
            if self._out is None:
                self._out = np.empty((self.n, h, w, 3), dtype=np.uint8)
            for k in self.slots[index]:
                self._out[k] = arr
        else:
            if self.max_aspect is not None:
                check_aspect(h, w, self.max_aspect)
            L = self.size
            if self._out is None:
                self._out = np.empty((self.n, 3, L, L), dtype=np.uint8)
            rh, rw = target_size(h, w, L)
            if (rh, rw) != (h, w):  # (1, 3, h, w) channels-last view in, (1, 3, rh, rw) channels-last out
                # [None] before the permute: batch stride h*w*3, else torch reads a 1-image batch as
                # NCHW and takes its ~2.5x slower uint8 kernel
                x = torch.from_numpy(np.ascontiguousarray(arr))[None].permute(0, 3, 1, 2)
                arr = resize_long_side(x, L)[0].permute(1, 2, 0).numpy()
            chw = arr.transpose(2, 0, 1)  # numpy's strided copy beats torch's for uint8 HWC -> CHW
            first, *rest = self.slots[index]
            o = self._out
            o[first, :, :rh, :rw] = chw
            o[first, :, rh:, :] = 0
            o[first, :, :rh, rw:] = 0
            for k in rest:
                o[k] = o[first]
        self.filled.add(index)

    def result(self) -> torch.Tensor:
        if self._out is None or self.missing:
            raise VideoDecodeError(f"decoded {len(self.filled)} of {len(self.wanted)} wanted frames")
        if self.size is None:
            return _hwc_to_chw(self._out)
        return torch.from_numpy(self._out)


class VideoSource:
    """An opened video: its frame count, its average frame rate, and random access by index."""

    num_frames: int
    fps: float

    def frames(self, indices: Sequence[int]) -> Iterator[tuple[int, np.ndarray]]:
        """(index, uint8 (H, W, 3) RGB) once per distinct index in `indices` (ascending), as decoded."""
        raise NotImplementedError

    def get(self, indices: Sequence[int]) -> torch.Tensor:  # uint8 (K, 3, H, W)
        return read_indices(self, indices)


class _DecordSource(VideoSource):
    def __init__(self, data: bytes, num_threads: int):
        import decord

        self._vr = decord.VideoReader(io.BytesIO(data), num_threads=num_threads)
        self.num_frames = len(self._vr)
        self.fps = float(self._vr.get_avg_fps() or 0.0)
        if self.num_frames <= 0:
            raise VideoDecodeError("decord found no frames")

    def frames(self, indices: Sequence[int]) -> Iterator[tuple[int, np.ndarray]]:
        wanted = sorted(set(int(i) for i in indices))
        batch = self._vr.get_batch(wanted)
        arr = batch.asnumpy() if hasattr(batch, "asnumpy") else np.asarray(batch)  # (U, H, W, 3)
        yield from zip(wanted, arr, strict=True)

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

    def frames(self, indices: Sequence[int]) -> Iterator[tuple[int, np.ndarray]]:
        wanted = sorted(set(int(i) for i in indices))
        done: set[int] = set()
        try:
            for i, frame in self._sparse(wanted):
                done.add(i)
                yield i, frame
            if len(done) < len(wanted):
                raise VideoDecodeError(f"sparse decode produced {len(done)} of {len(wanted)} frames")
        except Exception:  # a stream the GOP logic cannot handle: decode the rest in order
            yield from _PyAVSource(self._data).frames([i for i in wanted if i not in done])

    def _sparse(self, wanted: list[int]) -> Iterator[tuple[int, np.ndarray]]:
        index_of: dict[int, list[int]] = {}
        for i in wanted:
            index_of.setdefault(self._display_pts[i], []).append(i)
        cc = self._stream.codec_context
        mode = cc.skip_frame = "DEFAULT"
        for start, end in self._runs(set(index_of)):
            for pkt in self._packets[start:end + 1]:
                # a frame nobody asked for and nothing references can be skipped (decided per packet,
                # single-threaded decoding, so the setting applies to exactly this packet)
                want = "DEFAULT" if (pkt.pts in index_of or pkt.is_keyframe) else "NONREF"
                if want != mode:
                    cc.skip_frame = mode = want
                for f in cc.decode(pkt):
                    for i in index_of.pop(f.pts, ()):
                        yield i, f.to_ndarray(format="rgb24")
            if mode != "DEFAULT":
                cc.skip_frame = mode = "DEFAULT"
            for f in cc.decode(None):  # drain the reorder buffer, then reset for the next run
                for i in index_of.pop(f.pts, ()):
                    yield i, f.to_ndarray(format="rgb24")
            cc.flush_buffers()


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

    def frames(self, indices: Sequence[int]) -> Iterator[tuple[int, np.ndarray]]:
        wanted = sorted(set(int(i) for i in indices))
        if not wanted:
            return
        pending, last = set(wanted), wanted[-1]
        i, frame = -1, None
        for i, frame in enumerate(self._frames()):
            if i in pending:
                pending.discard(i)
                yield i, frame.to_ndarray(format="rgb24")
            if i >= last:
                break
        if frame is None or len(pending) == len(wanted):
            raise VideoDecodeError("no frames decoded")
        if pending:  # a header that over-counts frames: the missing tail repeats the last decoded frame
            tail = frame.to_ndarray(format="rgb24")
            for j in sorted(pending):
                if j < i:
                    raise VideoDecodeError(f"frame {j} was not decoded")
                yield j, tail


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


def read_indices(source: VideoSource, indices: Sequence[int], size: int | None = None,
                 max_aspect: float | None = MAX_ASPECT) -> torch.Tensor:
    """Decode the distinct indices once, in order, and place each frame in every slot that asked for it.

    uint8 (K, 3, H, W); with `size` = L: (K, 3, L, L) resized + padded like `transforms.resize_pad`
    (AspectRatioError past `max_aspect`). Raises VideoDecodeError.
    """
    sink = _FrameSink(indices, size, max_aspect)
    try:
        for i, frame in source.frames(sink.wanted):
            sink.put(i, frame)
        return sink.result()
    except (VideoDecodeError, AspectRatioError):
        raise
    except Exception as e:
        raise VideoDecodeError(f"{type(e).__name__}: {e}") from e


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
                num_threads: int = 1, size: int | None = None,
                max_aspect: float | None = MAX_ASPECT) -> torch.Tensor:
    """Decode the frames `pick(n, fps)` chooses from one vis_db record, in that order.

    Returns uint8 (K, 3, H, W) RGB with K = len(pick(...)). Images count as a 1-frame video at fps 1.
    For a frame store `n`/`fps` are the stored frames and their rate. With `size` = L the frames come
    back as the loader ships them, (K, 3, L, L): exactly `transforms.resize_pad(frames, L, max_aspect)`,
    but each frame is resized and padded into the output as it is decoded (on CPU). Raises
    VideoDecodeError (and AspectRatioError past `max_aspect`, only with `size`).
    """
    on_cpu = torch.device(device).type == "cpu"
    if size is not None and not on_cpu:  # nvJPEG / GPU tensors: decode there, resize + pad there
        frames = load_frames(record, pick, device=device, num_threads=num_threads)
        return resize_pad(frames, size, max_aspect)
    if record.kind == "frames":
        frames = record.frames or []
        if not frames:
            raise VideoDecodeError(f"{record.key}: empty frame store entry")
        idx = np.asarray(pick(len(frames), float(record.fps or 1.0)), dtype=np.int64).reshape(-1)
        if not on_cpu:
            uniq, inverse = np.unique(idx, return_inverse=True)
            stacked = torch.stack(decode_jpegs([frames[i] for i in uniq.tolist()], device=device))
            return stacked[torch.from_numpy(inverse.reshape(-1)).to(stacked.device)]  # (K, 3, H, W)
        if len(idx) and (idx.min() < 0 or idx.max() >= len(frames)):
            raise VideoDecodeError(f"{record.key}: frame index out of range 0..{len(frames) - 1}")
        sink = _FrameSink(idx, size, max_aspect)
        decoded = decode_jpegs([frames[i] for i in sink.wanted])
        for i, img in zip(sink.wanted, decoded, strict=True):
            sink.put(i, img.permute(1, 2, 0))  # decode_jpeg's (3, H, W) is a view of (H, W, 3)
        return sink.result()
    data = record.data or b""
    if record.is_image:
        idx = pick(1, 1.0)
        img = decode_image(data).to(device).unsqueeze(0)  # (1, 3, H, W)
        if size is not None:
            return resize_pad(img, size, max_aspect).expand(len(idx), -1, -1, -1).contiguous()
        return img.expand(len(idx), -1, -1, -1)
    source = open_video(data, record.ext, num_threads=num_threads)
    frames = read_indices(source, pick(source.num_frames, source.fps), size, max_aspect)
    return frames.to(device) if not on_cpu else frames


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
