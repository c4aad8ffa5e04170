"""`clpbert demo`: a complete run on a fresh install, nothing downloaded.

Module top imports only typer (and the stdlib); the engine is imported inside the command.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Annotated

import typer

from clpbert.app.runs import RunState

HELP = """Generate the synthetic demo dataset (coloured shapes; video QA), train a small ClipBERT
on it through the real launcher (supervisor -> torchrun, CPU/gloo without GPUs), show live
progress and finish with the eval table (accuracy overall and per question type).

The dataset is generated once into CLPBERT_HOME/datasets/demo and reused. Exits 0 only when the
run finished. The run stays in the registry: `clpbert runs show ID`.
"""


DEMO_BUDGET_S = 600.0
"""The demo's promise: done within 10 minutes on 2 CPU cores, data generation included."""
DEMO_RESERVE_S = 75.0
"""Kept back from training for torchrun start-up, the final evaluation and the checkpoint."""
DEMO_MIN_TRAIN_S = 60.0


def demo(
    steps: Annotated[int | None, typer.Option("--steps", min=1, help="Training steps (optim.max_steps); "
                                              "default: the demo preset's.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the generated data and of training.")] = 0,
    gpus: Annotated[str | None, typer.Option("--gpus", help="GPU indices/UUIDs or auto:N; default: CPU.")]
    = None,
    sets: Annotated[list[str] | None, typer.Option("--set", "-s", help="Extra config override KEY=VALUE.")]
    = None,
    train_videos: Annotated[int | None, typer.Option("--train-videos", min=1, help="Generate this many "
                                                     "training videos (default: the generator's).")] = None,
    val_videos: Annotated[int | None, typer.Option("--val-videos", min=1, help="Validation videos.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the final run (with its latest eval) as "
                                          "JSON on stdout.")] = False,
) -> None:
    from rich.console import Console

    from cli.run import follow_and_report, run_json
    from clpbert.app.registry import open_registry
    from clpbert.app.runs import DEMO_DATASET, LaunchRequest, ensure_demo_dataset, launch_run, reconcile

    err = Console(stderr=True, soft_wrap=True)
    quiet = quiet or as_json
    with open_registry() as reg:
        reconcile(reg)
        t0 = time.monotonic()
        if not quiet:
            err.print("preparing the demo dataset (generated once, then reused) ...", highlight=False)
        ds = ensure_demo_dataset(reg, seed=seed, n_train=train_videos, n_val=val_videos)
        if not quiet:
            n = ", ".join(f"{k} {v}" for k, v in ds.splits.items())
            err.print(f"dataset {ds.name}: {n} questions ({time.monotonic() - t0:.1f} s)", highlight=False)
        overrides = [f"runtime.seed={seed}"]
        if steps is not None:
            overrides.append(f"optim.max_steps={steps}")
        if not any(s.split("=", 1)[0].strip() == "runtime.time_limit_s" for s in sets or []):
            # the whole demo (generation included) fits in DEMO_BUDGET_S: training gets what is left
            # after generation, minus a reserve for start-up, the final evaluation and the checkpoint
            left = DEMO_BUDGET_S - (time.monotonic() - t0) - DEMO_RESERVE_S
            overrides.append(f"runtime.time_limit_s={max(left, DEMO_MIN_TRAIN_S):.0f}")
        overrides += sets or []
        req = LaunchRequest(kind="finetune", task="demo", dataset=DEMO_DATASET, gpus=gpus, sets=overrides,
                            name=f"demo-{time.strftime('%Y%m%d-%H%M%S')}", tags=["demo"])
        run = launch_run(reg, req)
        if not quiet:
            err.print(f"run {run.id} started (`clpbert runs show {run.id}`, "
                      f"logs: `clpbert runs logs {run.id}`)", highlight=False)
        final = follow_and_report(reg, run.id, quiet=quiet)
        if as_json:
            print(json.dumps(run_json(reg, final)))
        if final.state != RunState.FINISHED:
            if quiet and not as_json:
                sys.stderr.write(f"demo run {final.id} {final.state}: {final.reason}\n")
            raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the command to the main app (called by cli/app.py)."""
    app.command("demo", help=HELP)(demo)
