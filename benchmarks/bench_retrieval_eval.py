"""Full-matrix retrieval scoring: cached CNN features (the predict path) against the naive per-pair path.

  candidate  each video through the CNN once (`Predictor.encode`-style batches), features written to
             and read back from the on-disk FeatureCache, then every (text, video) pair through the
             transformer only (`Predictor.score_pairs`, pair_batch_size pairs per forward, bf16 on GPU)
  baseline   the naive path: `ClipBert.forward(frames, text)` per pair, i.e. the CNN recomputed for
             every pair (batched over pairs the same way). It is timed on --naive-pairs pairs and
             extrapolated to the whole matrix (at MSRVTT scale it would take hours)

Sizes: `--size small` = the demo model (CPU), `--size full` = the msrvtt_ret preset (ResNet-50 +
BERT-base, L=448, the task's inference clips). Frames are random uint8 (decoding is not measured).

  CPU:  python -m benchmarks.bench_retrieval_eval                       (32 x 32, small)
  GPU:  python -m benchmarks.bench_retrieval_eval --texts 1000 --videos 1000 --size full --gpus 0
        (MSRVTT 1k-A scale; goal: the whole matrix in <= 3 minutes on one H200)

Prints one JSON line per phase and a summary line with the ratio; writes $OUT/bench_retrieval_eval.json.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import torch


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _config(size: str):
    from clpbert.config import preset

    cfg = preset("msrvtt_ret")
    if size == "small":
        demo = preset("demo")
        cfg.model = demo.model
        cfg.data.max_img_size, cfg.data.num_frm, cfg.data.max_txt_len = 128, 1, 16
    return cfg


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--texts", type=int, default=32)
    ap.add_argument("--videos", type=int, default=32)
    ap.add_argument("--size", choices=("small", "full"), default="small")
    ap.add_argument("--gpus", default=None, help="GPU index (default: CPU)")
    ap.add_argument("--clips", type=int, default=0, help="inference clips N (default: the task's)")
    ap.add_argument("--pair-batch", type=int, default=0, help="pairs per transformer forward")
    ap.add_argument("--video-batch", type=int, default=0, help="videos per CNN batch")
    ap.add_argument("--naive-pairs", type=int, default=0, help="pairs timed on the naive path "
                    "(default: min(all, 256) on CPU, 2048 on GPU)")
    ap.add_argument("--compare", type=int, default=64, help="pairs whose scores are checked equal")
    args = ap.parse_args(argv)

    from clpbert.model import autocast_context, build_model, resolve_precision
    from clpbert.predict import FeatureCache, resolve_device
    from clpbert.predict.predictor import Predictor

    device = resolve_device(args.gpus)
    cfg = _config(args.size)
    if args.clips:
        cfg.data.inference_n_clips = args.clips
    torch.manual_seed(0)
    model = build_model(cfg.model, cfg.task).eval().to(device)
    if device.type == "cuda":
        model.to_channels_last()
    precision = resolve_precision(device, "auto")
    d = cfg.data
    n_clip, n_frm, L, Lt = d.inference_n_clips, d.num_frm, d.max_img_size, d.max_txt_len
    V, T = args.videos, args.texts
    g = torch.Generator().manual_seed(0)
    frames = torch.randint(0, 256, (V, n_clip, n_frm, 3, L, L), dtype=torch.uint8, generator=g)
    ids = torch.randint(1000 if args.size == "full" else 5, cfg.model.vocab_size, (T, Lt), generator=g)
    ids[:, 0] = 101 if args.size == "full" else 2
    mask = torch.ones_like(ids)
    ids, mask = ids.to(device), mask.to(device)

    # a Predictor around this model (no checkpoint file needed), for its batching and scoring code
    pred = Predictor.__new__(Predictor)
    pred.cfg, pred.model, pred.device, pred.precision = cfg, model, device, precision
    from clpbert.predict.predictor import Stats

    pred.stats = Stats()
    pred.pair_batch_size = args.pair_batch or (1024 if device.type == "cuda" else 64)
    video_batch = args.video_batch or (64 if device.type == "cuda" else 8)
    info = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "size": args.size, "texts": T, "videos": V, "clips": n_clip, "frames": n_frm, "L": L,
            "Lt": Lt, "precision": precision, "pair_batch": pred.pair_batch_size, "video_batch": video_batch}
    print(json.dumps(info), flush=True)

    # ---- candidate: CNN once per video -> disk cache -> transformer over all pairs --------------
    with tempfile.TemporaryDirectory() as tmp:
        cache = FeatureCache(Path(tmp), "bench")
        _sync(device)
        t0 = time.perf_counter()
        for s in range(0, V, video_batch):
            x = frames[s:s + video_batch].to(device, non_blocking=True)
            with torch.inference_mode(), autocast_context(device, precision):
                vis = model.encode_video(x)  # (b, N, h, w, D)
            for i, v in enumerate(vis):
                cache.put(f"{s + i:064x}", v)
        _sync(device)
        t_cnn = time.perf_counter() - t0
        t0 = time.perf_counter()
        visual = torch.stack([cache.get(f"{j:064x}") for j in range(V)]).to(device)  # (V, N, h, w, D)
        _sync(device)
        t_load = time.perf_counter() - t0
        vi = torch.arange(V).repeat_interleave(T)
        ti = torch.arange(T).repeat(V)
        # warm-up (kernels, allocator) outside the timing
        pred.score_pairs(visual, ids, mask, vi[:pred.pair_batch_size], ti[:pred.pair_batch_size])
        _sync(device)
        t0 = time.perf_counter()
        z = pred.score_pairs(visual, ids, mask, vi, ti)  # (V*T, 2)
        _sync(device)
        t_score = time.perf_counter() - t0
    cached_total = t_cnn + t_load + t_score
    scores = z.softmax(-1)[:, 1].view(V, T)
    cand = {"phase": "cached", "cnn_s": t_cnn, "cache_load_s": t_load, "score_s": t_score,
            "matrix_s": cached_total, "pairs_per_s": V * T / cached_total}
    print(json.dumps(cand), flush=True)

    # ---- baseline: the naive path, CNN recomputed for every pair ---------------------------------
    n_naive = args.naive_pairs or (2048 if device.type == "cuda" else min(V * T, 256))
    n_naive = min(n_naive, V * T)
    sel = torch.randperm(V * T, generator=g)[:n_naive]
    bs = max(1, min(pred.pair_batch_size, 64 if device.type == "cuda" else 16))
    from clpbert.model import aggregate_clip_scores

    def naive(idx: torch.Tensor) -> torch.Tensor:
        out = []
        with torch.inference_mode(), autocast_context(device, precision):
            for s in range(0, idx.numel(), bs):
                k = idx[s:s + bs]
                f = frames[vi[k]].to(device, non_blocking=True)
                logits = model(f, ids[ti[k].to(device)], mask[ti[k].to(device)])
                out.append(aggregate_clip_scores(logits.float(), cfg.task.score_agg_func))
        return torch.cat(out).cpu()

    naive(sel[:bs])  # warm-up
    _sync(device)
    t0 = time.perf_counter()
    zn = naive(sel)
    _sync(device)
    t_naive = time.perf_counter() - t0
    naive_rate = n_naive / t_naive
    base = {"phase": "naive", "pairs_timed": n_naive, "timed_s": t_naive, "pairs_per_s": naive_rate,
            "matrix_s_extrapolated": V * T / naive_rate}
    print(json.dumps(base), flush=True)

    k = sel[:args.compare]
    diff = float((zn[:len(k)].softmax(-1)[:, 1] - scores.flatten()[k]).abs().max())
    summary = {"bench": "retrieval_eval", **info, "cached_matrix_s": cached_total,
               "cached_pairs_per_s": cand["pairs_per_s"], "naive_matrix_s": base["matrix_s_extrapolated"],
               "naive_pairs_per_s": naive_rate, "ratio": cand["pairs_per_s"] / naive_rate,
               "max_abs_score_diff": diff, "goal_s": 180.0, "meets_goal": cached_total <= 180.0}
    print(f"cached: {cached_total:.2f} s for {V}x{T} ({cand['pairs_per_s']:.0f} pairs/s; CNN {t_cnn:.2f} s, "
          f"transformer {t_score:.2f} s) | naive: {base['matrix_s_extrapolated']:.2f} s "
          f"({naive_rate:.0f} pairs/s) | ratio {summary['ratio']:.1f}x | max |dP| {diff:.2e}", flush=True)
    print(json.dumps(summary), flush=True)
    out = os.environ.get("OUT")
    if out:
        with open(os.path.join(out, "bench_retrieval_eval.json"), "w") as f:
            json.dump({"summary": summary, "cached": cand, "naive": base}, f, indent=1)
    return summary


def run(quick: bool = False) -> list[dict]:
    """Rows for `python -m benchmarks`: the cached-feature matrix against the naive path (CNN per
    pair); on a GPU the full MSRVTT 1k-A shape with its 3-minute goal, on CPU a small shape."""
    import torch

    from benchmarks.harness import main_summary, row

    on_gpu = torch.cuda.is_available()
    argv = (["--size", "full", "--texts", "1000", "--videos", "1000", "--gpus", "0"] if on_gpu
            else ["--texts", "8" if quick else "32", "--videos", "8" if quick else "32"])
    s = main_summary(main, argv)
    shape = f"{s['texts']}x{s['videos']} ({s['size']} model, {s['device']})"
    rows = [row("retrieval_eval", f"full matrix {shape}: cached features vs CNN per pair", "pairs/s",
                s["naive_pairs_per_s"], s["cached_pairs_per_s"], goal_ratio=1.0,
                note=f"max |dP| {s['max_abs_score_diff']:.1e}")]
    if on_gpu:
        rows.append(row("retrieval_eval", f"whole 1k-A matrix {shape}", "s", s["naive_matrix_s"],
                        s["cached_matrix_s"], better="lower", goal_value=180.0))
    return rows


if __name__ == "__main__":
    main()
