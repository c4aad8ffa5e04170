"""Start-up time of `clpbert --help` against bare Python and against importing typer, same run.

    python -m benchmarks.bench_cli_start [--runs 10]

Each command runs --runs times as a fresh process; we report the median and best wall time and the
CPU time (user+sys of the child, robust on a busy machine). Target: `clpbert --help` <= 0.15 s.
The interesting numbers are help - typer (what clpbert adds on top of its CLI framework) and
help / pass.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path


def _clpbert_argv() -> list[str]:
    exe = Path(sys.executable).with_name("clpbert")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "cli.app"]


def measure(argv: list[str], runs: int, env: dict[str, str]) -> dict[str, float]:
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=True)
        walls.append(time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
    return {"median_s": statistics.median(walls), "best_s": min(walls),
            "cpu_median_s": statistics.median(cpus)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    env = {**os.environ, "CLPBERT_HOME": os.environ.get("CLPBERT_HOME", "/tmp/clpbert-bench-home")}
    cases = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "python -c 'import typer'": [sys.executable, "-c", "import typer"],
        "clpbert --help": [*_clpbert_argv(), "--help"],
    }
    for argv in cases.values():  # warm the page cache and .pyc files
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=True)
    results = {name: measure(argv, args.runs, env) for name, argv in cases.items()}
    for name, r in results.items():
        print(f"{name:<28} median {r['median_s'] * 1000:7.1f} ms   best {r['best_s'] * 1000:7.1f} ms   "
              f"cpu {r['cpu_median_s'] * 1000:7.1f} ms")
    base, typer_, help_ = (results[k] for k in cases)
    summary = {
        "bench": "cli_start",
        "runs": args.runs,
        "results": results,
        "help_over_pass": help_["median_s"] / base["median_s"],
        "help_minus_typer_ms": (help_["median_s"] - typer_["median_s"]) * 1000,
        "help_best_s": help_["best_s"],
        "target_s": 0.15,
        "meets_target": help_["best_s"] <= 0.15,
    }
    print(f"clpbert --help / python -c pass: {summary['help_over_pass']:.2f}x; "
          f"clpbert adds {summary['help_minus_typer_ms']:.1f} ms over importing typer; "
          f"best {help_['best_s'] * 1000:.0f} ms (target 150 ms)")
    print(json.dumps(summary))


def run(quick: bool = False) -> list[dict]:
    """Rows for `python -m benchmarks`: `clpbert --help` against importing typer alone."""
    from benchmarks.harness import main_summary, row

    s = main_summary(main, ["--runs", "3" if quick else "10"], via_sys_argv=True)
    typer_, help_ = s["results"]["python -c 'import typer'"], s["results"]["clpbert --help"]
    return [row("cli_start", "clpbert --help, best wall (baseline: python -c 'import typer')", "s",
                typer_["best_s"], help_["best_s"], better="lower", goal_value=s["target_s"],
                note=f"clpbert adds {s['help_minus_typer_ms']:.1f} ms (median) over importing typer")]


if __name__ == "__main__":
    main()
