"""One ClipBERT training step: the original's regime (fp16 eager) against our best mode, same process.

Each mode builds the same model (clpbert.model.build_model, same seed), then times full optimiser
steps (forward over B videos x N clips x T frames, lse clip loss, backward, AdamW):

  mode tokens, joined with `+`:  fp32 | fp16 (autocast + GradScaler) | bf16 (autocast)
                                 sdpa (torch SDPA attention; else matmul+softmax, as the original)
                                 cl (channels_last CNN)
                                 compile (torch.compile, static shapes, eager fallback)

The first mode is the baseline; the ratio is best candidate videos/s over the baseline's. Train FLOPs
per step come from torch.utils.flop_counter on one eager step; MFU is against --peak-tflops (default
790 on CUDA: the dense bf16 rate that ../shared/bench/reference_step.py uses, so MFUs compare).

  CPU (small model, small shape):   python -m benchmarks.bench_train_step
  GPU (msrvtt_qa shape, full model):
      python -m benchmarks.bench_train_step --shape 8,8,2,448,448,40 --modes fp16,bf16+sdpa+cl+compile

Side by side with the reference step (one GPU call, one machine): ../shared does not travel, so copy
it into the git-ignored .bench/ folder and carry that folder:
      mkdir -p .bench && cp ../shared/bench/reference_step.py .bench/
      run: python -m benchmarks.bench_train_step --shape 8,8,2,448,448,40 --modes fp16,bf16+sdpa+cl+compile
           && python .bench/reference_step.py shape=8,8,2,448,448,40 modes=fp16,bf16+sdpa+cl+compile
           (carry [".bench"]); both write JSON under $OUT.
Prints one JSON line per mode and a summary line; writes $OUT/bench_train_step.json when $OUT is set.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from typing import Any

import torch

from clpbert.config import ModelConfig, TaskConfig, preset
from clpbert.model import (
    autocast_context,
    build_model,
    clip_loss,
    compile_failed,
    make_grad_scaler,
    maybe_compile,
)

SMALL = ModelConfig(cnn_blocks=[1, 1, 1, 1], cnn_width=16, cnn_norm="frozen_bn", hidden_size=128,
                    num_layers=2, num_heads=4, intermediate_size=256, vocab_size=1000,
                    max_position_embeddings=64, max_grid_size=16, classifier_hidden=256)


def parse_mode(mode: str) -> dict[str, Any]:
    tokens = mode.split("+")
    precision = tokens[0]
    if precision not in ("fp32", "fp16", "bf16"):
        raise SystemExit(f"mode {mode!r}: the first token must be fp32, fp16 or bf16")
    unknown = set(tokens[1:]) - {"sdpa", "cl", "compile"}
    if unknown:
        raise SystemExit(f"mode {mode!r}: unknown tokens {sorted(unknown)} (sdpa, cl, compile)")
    return {"precision": precision, "sdpa": "sdpa" in tokens, "cl": "cl" in tokens,
            "compile": "compile" in tokens}


class Step:
    """A model, optimiser, scaler and one fixed batch for one mode."""

    def __init__(self, mode: str, model_cfg: ModelConfig, labels: int, shape: tuple[int, ...],
                 device: torch.device) -> None:
        opts = parse_mode(mode)
        b, n, t, h, w, lt = shape
        torch.manual_seed(0)
        self.device, self.precision = device, opts["precision"]
        self.model = build_model(model_cfg, TaskConfig(head="qa", num_labels=labels, score_agg_func="lse"))
        self.model.to(device).train()
        self.model.set_attention("sdpa" if opts["sdpa"] else "eager")
        if opts["cl"]:
            self.model.to_channels_last()
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.opt = torch.optim.AdamW(params, lr=1e-5, fused=device.type == "cuda")
        self.scaler = make_grad_scaler(device, self.precision)
        g = torch.Generator().manual_seed(0)
        self.frames = torch.randint(0, 256, (b, n, t, 3, h, w), dtype=torch.uint8, generator=g).to(device)
        vocab = model_cfg.vocab_size
        self.ids = torch.randint(min(1000, vocab - 1), vocab, (b, lt), generator=g).to(device)
        self.mask = torch.ones(b, lt, dtype=torch.long, device=device)
        self.mask[:, (3 * lt) // 4 :] = 0  # some text padding, as real batches have
        self.repeats = torch.ones(b, dtype=torch.long, device=device)
        self.labels = torch.randint(0, labels, (b,), generator=g).to(device)
        self.compiled = opts["compile"]
        if self.compiled:
            maybe_compile(self.model, True)

    def __call__(self) -> float:
        with autocast_context(self.device, self.precision):
            logits = self.model(self.frames, self.ids, self.mask, self.repeats)  # (B, N, K)
            loss = clip_loss(logits, self.labels, "lse")
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt)
        self.scaler.update()
        return float(loss.detach())


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def count_train_flops(step: Step) -> int | None:
    """FLOPs of one eager forward+backward (matmuls and convolutions)."""
    try:
        from torch.utils.flop_counter import FlopCounterMode

        with FlopCounterMode(display=False) as fc:
            step()
        return int(fc.get_total_flops())
    except Exception as e:  # the counter is a diagnostic; never fail the benchmark for it
        print(f"flop count failed: {type(e).__name__}: {e}", file=sys.stderr)
        return None


def bench_mode(mode: str, model_cfg: ModelConfig, labels: int, shape: tuple[int, ...], device: torch.device,
               steps: int, warmup: int, flops: int | None, peak: float | None) -> dict[str, Any]:
    step = Step(mode, model_cfg, labels, shape, device)
    t0 = time.perf_counter()
    for _ in range(warmup + (2 if step.compiled else 0)):
        step()
    sync(device)
    warm_s = time.perf_counter() - t0
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = step()
    sync(device)
    dt = (time.perf_counter() - t0) / steps
    b = shape[0]
    r: dict[str, Any] = {"mode": mode, "shape": list(shape), "step_s": round(dt, 4),
                         "videos_per_s": round(b / dt, 2),
                         "frames_per_s": round(b * shape[1] * shape[2] / dt, 1),
                         "warmup_s": round(warm_s, 2), "loss": round(loss, 4)}
    if step.compiled:
        err = compile_failed(step.model)
        r["compile_failed"] = None if err is None else f"{type(err).__name__}: {str(err)[:200]}"
    if flops:
        r["train_tflop_per_step"] = round(flops / 1e12, 4)
        r["achieved_tflops"] = round(flops / dt / 1e12, 3)
        if peak:
            r["mfu"] = round(flops / dt / (peak * 1e12), 4)
    if device.type == "cuda":
        r["peak_mem_GiB"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    del step
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return r


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto", help="auto | cuda | cpu")
    ap.add_argument("--shape", default="",
                    help="B,N,T,H,W,Lt (default: 8,8,2,448,448,40 GPU; 2,2,2,64,64,16 CPU)")
    ap.add_argument("--modes", default="", help="comma-separated; the first is the baseline")
    ap.add_argument("--model", default="", help="full (msrvtt_qa sizes) | small (default: full on GPU)")
    ap.add_argument("--labels", type=int, default=1500)
    ap.add_argument("--steps", type=int, default=0)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--peak-tflops", type=float, default=None)
    ap.add_argument("--threads", type=int, default=0, help="CPU intra-op threads (0 = torch default)")
    args = ap.parse_args(argv)

    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    gpu = device.type == "cuda"
    if args.threads:
        torch.set_num_threads(args.threads)
    shape_arg = args.shape or ("8,8,2,448,448,40" if gpu else "2,2,2,64,64,16")
    shape = tuple(int(x) for x in shape_arg.split(","))
    if len(shape) != 6:
        raise SystemExit("--shape needs 6 numbers: B,N,T,H,W,Lt")
    modes = (args.modes or ("fp16,bf16+sdpa+cl+compile" if gpu else "fp32,fp32+sdpa+cl+compile")).split(",")
    which = args.model or ("full" if gpu else "small")
    model_cfg = preset("msrvtt_qa").model if which == "full" else SMALL
    steps = args.steps or (10 if gpu else 3)
    peak = args.peak_tflops if args.peak_tflops is not None else (790.0 if gpu else None)
    if gpu:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True

    info: dict[str, Any] = {"bench": "train_step", "device": torch.cuda.get_device_name(0) if gpu else "cpu",
                            "torch": torch.__version__, "model": which, "shape": list(shape),
                            "threads": torch.get_num_threads(), "peak_tflops": peak}
    print(json.dumps(info), flush=True)
    flops = count_train_flops(Step("fp32" if not gpu else "bf16", model_cfg, args.labels, shape, device))
    if gpu:
        torch.cuda.empty_cache()
    runs = []
    for mode in modes:
        try:
            r = bench_mode(mode, model_cfg, args.labels, shape, device, steps, args.warmup, flops, peak)
        except Exception as e:
            traceback.print_exc()
            r = {"mode": mode, "error": f"{type(e).__name__}: {str(e)[:300]}"}
        print(json.dumps(r), flush=True)
        runs.append(r)
    ok = [r for r in runs if "videos_per_s" in r]
    summary: dict[str, Any] = {**info, "runs": runs}
    if runs and "videos_per_s" in runs[0] and len(ok) > 1:
        best = max(ok[1:], key=lambda r: r["videos_per_s"])
        summary.update(baseline=runs[0]["mode"], baseline_videos_per_s=runs[0]["videos_per_s"],
                       candidate=best["mode"], candidate_videos_per_s=best["videos_per_s"],
                       ratio=round(best["videos_per_s"] / runs[0]["videos_per_s"], 3))
        print(f"baseline {summary['baseline']}: {summary['baseline_videos_per_s']} videos/s | "
              f"candidate {summary['candidate']}: {summary['candidate_videos_per_s']} videos/s | "
              f"ratio {summary['ratio']}x", flush=True)
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}), flush=True)
    out = os.environ.get("OUT")
    if out:
        with open(os.path.join(out, "bench_train_step.json"), "w") as f:
            json.dump(summary, f, indent=1)
    return summary


def run(quick: bool = False) -> list[dict]:
    """Rows for `python -m benchmarks`: the small CPU shape always; the msrvtt_qa GPU shape with CUDA."""
    from benchmarks.harness import row, skipped

    def compare(label: str, argv: list[str]) -> dict:
        s = main(argv)
        if "ratio" not in s:
            errors = "; ".join(r.get("error", "") for r in s.get("runs", []) if r.get("error"))
            raise RuntimeError(f"train step {label}: no baseline/candidate pair ({errors or 'see output'})")
        return row("train_step", f"{label}: {s['candidate']} vs {s['baseline']}", "videos/s",
                   s["baseline_videos_per_s"], s["candidate_videos_per_s"], goal_ratio=1.0,
                   note=f"{s['device']}, shape B,N,T,H,W,Lt={s['shape']}")

    # CPU: torch.compile's C++ build takes minutes on a small machine, so --quick leaves it out.
    cpu_modes = "fp32,fp32+sdpa+cl" if quick else "fp32,fp32+sdpa+cl+compile"
    rows = [compare("CPU small model", ["--device", "cpu", "--modes", cpu_modes])]
    gpu_name = "GPU msrvtt_qa shape, full model"
    if torch.cuda.is_available():
        rows.append(compare(gpu_name, ["--device", "cuda", "--steps", "5" if quick else "10"]))
    else:
        rows.append(skipped("train_step", gpu_name, "no CUDA GPU"))
    return rows


if __name__ == "__main__":
    main()
