"""Re-encode a video at pack time so that sparse loading is cheap (`datasets prepare --reencode`).

Exact decoding of the frames a training example samples costs every reference frame from the keyframe
before each of them, at full resolution: a 720p stream with one keyframe (bigbuckbunny) means decoding
nearly the whole video per example, ~3 videos per CPU-second however the reader is written. This writes
a stream shaped for the access pattern instead:

  * long side shrunk to at most `max_side` (the task size; never enlarged, even width/height),
  * closed GOPs of `gop` frames (a sampled frame needs at most `gop` pictures),
  * `bframes` B-frames that are never references (b-pyramid none), so the sparse reader skips the ones
    nobody asked for (`skip_frame=NONREF`),
  * x264 `tune=fastdecode` (CAVLC, no deblocking, no weighted prediction): roughly half the decode cost.

Every frame keeps its presentation time, so frame count, rate and timestamps (hence the sampled indices)
are those of the source. The result is lossy (crf `crf`), like the JPEG frame store, but keeps every
frame, so any fps / clip setting can be sampled later. benchmarks/bench_loader.py measures it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from clpbert.data.decode import VideoDecodeError


@dataclass(frozen=True)
class ReencodeSettings:
    """x264 settings for `reencode_video`; the defaults were picked with benchmarks/bench_loader.py."""

    max_side: int = 448
    gop: int = 16
    bframes: int = 3
    crf: int = 20
    preset: str = "fast"


def output_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """(w, h): shrunk so the long side is <= max_side (aspect kept, truncated), then made even (yuv420p)."""
    if max(width, height) > max_side:
        if width >= height:
            width, height = max_side, int(max_side * height / width)
        else:
            width, height = int(max_side * width / height), max_side
    return max(2, width - width % 2), max(2, height - height % 2)


def reencode_video(data: bytes, settings: ReencodeSettings | None = None) -> bytes:
    """Container bytes -> H.264 mp4 bytes shaped for sparse loading (see the module docstring).

    Raises VideoDecodeError when the input cannot be decoded or yields no frames.
    """
    import av

    st = settings or ReencodeSettings()
    out = io.BytesIO()
    n = 0
    try:
        with av.open(io.BytesIO(data), metadata_errors="ignore") as src:
            if not src.streams.video:
                raise VideoDecodeError("no video stream")
            s = src.streams.video[0]
            s.thread_type = "AUTO"
            rate = s.average_rate or s.guessed_rate or 25
            w, h = output_size(s.codec_context.width, s.codec_context.height, st.max_side)
            with av.open(out, "w", format="mp4") as dst:
                o = dst.add_stream("libx264", rate=rate)
                o.width, o.height, o.pix_fmt = w, h, "yuv420p"
                time_base = s.time_base or (1 / rate)
                o.time_base = time_base
                o.options = {
                    "crf": str(st.crf), "preset": st.preset, "tune": "fastdecode",
                    "x264-params": f"keyint={st.gop}:min-keyint={st.gop}:scenecut=0:open-gop=0:"
                                   f"bframes={st.bframes}:b-adapt=0:b-pyramid=none",
                }
                last_pts = None
                for frame in src.decode(s):
                    pts = frame.pts if frame.pts is not None else n
                    if last_pts is not None and pts <= last_pts:  # x264 needs strictly increasing pts
                        pts = last_pts + 1
                    g = frame.reformat(width=w, height=h, format="yuv420p", interpolation="AREA")
                    g.pts, g.time_base, last_pts = pts, time_base, pts
                    g.pict_type = 0  # NONE: libx264 would otherwise copy the source's I/P/B pattern
                    for pkt in o.encode(g):
                        dst.mux(pkt)
                    n += 1
                for pkt in o.encode():
                    dst.mux(pkt)
    except VideoDecodeError:
        raise
    except Exception as e:  # av.error.* on corrupt input
        raise VideoDecodeError(f"reencode: {type(e).__name__}: {e}") from e
    if n == 0:
        raise VideoDecodeError("reencode: no frames decoded")
    return out.getvalue()
