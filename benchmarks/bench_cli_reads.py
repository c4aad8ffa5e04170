"""Read commands as whole processes on a home with 10k runs, against `clpbert --help` in the same run.

    python -m benchmarks.bench_cli_reads [--runs 10000] [--repeats 9]

Each command (`runs list`, `runs show ID`, `datasets list`, `ckpts list`, `gpus --json`) runs
--repeats times as a fresh process with stdout to a pipe, on a SQLite home holding --runs finished
runs (realistic resolved configs) whose hourly retention pass has run, so nothing needs
reconciling: what a researcher's many daily calls cost. We report the median wall time of each
and its ratio to the median of `clpbert --help` measured in between. Goals: reads <= 0.25 s,
`gpus --json` <= 0.2 s (on a machine without an NVIDIA driver that is the no-driver answer).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

READ_GOAL_S = 0.25
GPUS_GOAL_S = 0.2


def build_home(home: Path, n_runs: int) -> str:
    """n_runs finished runs, a dataset and a checkpoint; returns a run id to show."""
    from sqlalchemy import insert

    from clpbert.config import preset
    from clpbert.registry import open_registry
    from clpbert.registry.models import RunRow
    from clpbert.runs.reconcile import reconcile

    os.environ["CLPBERT_HOME"] = str(home)
    os.environ.pop("CLPBERT_DB_URL", None)
    config = preset("msrvtt_qa").to_dict()
    now = time.time()
    rows = [{"id": f"{i:08x}", "name": f"sweep-{i}", "kind": "finetune", "task": "msrvtt_qa",
             "dataset": "msrvtt", "config": config, "state": "finished", "host": "bench",
             "gpus": [{"index": 0, "uuid": None}], "nnodes": 1, "created": now - n_runs + i,
             "tags": ["bench"], "notes": "", "run_dir": str(home / "runs" / f"{i:08x}"), "step": 1000,
             "total_steps": 1000}
            for i in range(n_runs)]
    with open_registry() as reg:
        with reg._engine.begin() as conn:  # setup only: bulk rows, not the API under test
            conn.execute(insert(RunRow.__table__), rows)
        shown = rows[n_runs // 2]["id"]
        reg.add_metrics(shown, [(s, "train/loss", 1.0 / (s + 1), now) for s in range(1000)])
        reg.add_eval(shown, 1000, "val", {"acc": 0.5})
        reg.add_dataset("tgif-transition", task="tgif_qa_transition", format="tgif_qa", splits={"train": 10})
        weights = home / "w.pt"
        weights.write_bytes(b"0" * 16)
        reg.add_checkpoint(weights, name="w", kind="pretrained")
        reconcile(reg)  # the hourly retention pass: done, so the reads below have nothing to write
    return shown


def _clpbert_argv() -> list[str]:
    exe = Path(sys.executable).with_name("clpbert")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "cli.app"]


def _once(argv: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    elapsed = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"bench_cli_reads: {' '.join(argv)} exited {proc.returncode}")
    return elapsed


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=9)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="clpbert-bench-reads-") as tmp:
        home = Path(tmp) / "home"
        shown = build_home(home, args.runs)
        env = {**os.environ, "CLPBERT_HOME": str(home)}
        env.pop("CLPBERT_DB_URL", None)
        env.pop("CLPBERT_FAKE_NVML", None)
        exe = _clpbert_argv()
        commands = {"clpbert --help": ["--help"], "runs list": ["runs", "list"],
                    f"runs show {shown}": ["runs", "show", shown], "datasets list": ["datasets", "list"],
                    "ckpts list": ["ckpts", "list"], "gpus --json": ["gpus", "--json"]}
        for extra in commands.values():  # warm the page cache and .pyc files
            _once([*exe, *extra], env)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeats):  # interleaved, so a busy moment hits every command alike
            for name, extra in commands.items():
                times[name].append(_once([*exe, *extra], env))
    medians = {name: statistics.median(ts) for name, ts in times.items()}
    help_s = medians["clpbert --help"]
    for name, m in medians.items():
        print(f"{name:<28} median {m * 1000:7.1f} ms  ({m / help_s:.2f}x clpbert --help)")
    print(json.dumps({"bench": "cli_reads", "runs": args.runs, "repeats": args.repeats, "medians_s": medians,
                      "help_s": help_s}))


def run(quick: bool = False) -> list[dict]:
    """Rows for `python -m benchmarks`: each read command against `clpbert --help`, same run."""
    from benchmarks.harness import main_summary, row

    s = main_summary(main, ["--repeats", "5" if quick else "15"])
    rows = []
    for name, median in s["medians_s"].items():
        if name == "clpbert --help":
            continue
        gpus = name.startswith("gpus")
        scale = "" if gpus else f", {s['runs']:,} runs"
        rows.append(row("cli_reads", f"`clpbert {name}`{scale}, median wall (baseline: clpbert --help)", "s",
                        s["help_s"], median, better="lower", goal_value=GPUS_GOAL_S if gpus else READ_GOAL_S))
    return rows


if __name__ == "__main__":
    main()
