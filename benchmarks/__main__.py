"""Run the benchmark suite and print ONE table of candidate-vs-baseline ratios.

    python -m benchmarks [--quick] [--only NAME,...] [--json FILE] [--timeout S]
    python -m benchmarks --list

Every `benchmarks/bench_<name>.py` exposes `run(quick: bool) -> list[dict]` (rows, see
benchmarks/harness.py); baseline and candidate of a row are measured in the same run, on the same
machine. Each bench runs in its own Python process (they set threads, environment and CUDA state
differently); what it prints goes to stderr as progress, the table to stdout. Parts the machine
cannot run (the GPU shape without CUDA) are rows marked skipped with the reason. Exit status 1
when a bench failed to run; unmet goals are reported, not fatal.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PREFIX = "bench_"


def discover() -> dict[str, str]:
    """{name: first docstring line} of every bench module, without importing them."""
    found = {}
    for path in sorted(HERE.glob(f"{PREFIX}*.py")):
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        found[path.stem[len(PREFIX):]] = doc.strip().splitlines()[0] if doc.strip() else ""
    return found


def _select(only: str | None, names: list[str]) -> list[str]:
    if not only:
        return names
    wanted = [w.strip().removeprefix(PREFIX) for w in only.split(",") if w.strip()]
    unknown = [w for w in wanted if w not in names]
    if unknown:
        raise SystemExit(f"benchmarks: unknown bench {', '.join(unknown)}; known: {', '.join(names)}")
    return wanted


def _run_one(name: str, quick: bool, rows_path: str) -> int:
    """Child side: import the module, call run(quick), write its rows as JSON."""
    import importlib

    module = importlib.import_module(f"benchmarks.{PREFIX}{name}")
    rows = module.run(quick=quick)
    tmp = f"{rows_path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(rows, f)
    os.replace(tmp, rows_path)
    return 0


def _run_child(name: str, quick: bool, timeout: float | None) -> tuple[list[dict[str, Any]], float]:
    """Parent side: one bench in a fresh interpreter; its output streams to our stderr."""
    fd, rows_path = tempfile.mkstemp(prefix=f"bench-{name}-", suffix=".json")
    os.close(fd)
    os.unlink(rows_path)
    argv = [sys.executable, "-m", "benchmarks", "--run-one", name, "--rows-to", rows_path]
    if quick:
        argv.append("--quick")
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(argv, stdout=sys.stderr, stderr=sys.stderr, cwd=HERE.parent, timeout=timeout)
        failure = None if proc.returncode == 0 else f"exit code {proc.returncode} (output above)"
    except subprocess.TimeoutExpired:
        failure = f"timed out after {timeout:g} s"
    elapsed = time.perf_counter() - t0
    if failure is None and os.path.exists(rows_path):
        with open(rows_path, encoding="utf-8") as f:
            rows = json.load(f)
        os.unlink(rows_path)
        return rows, elapsed
    return [{"bench": name, "name": "(bench failed)", "error": failure or "wrote no rows"}], elapsed


def _status(r: dict[str, Any]) -> str:
    if r.get("error"):
        return f"ERROR: {r['error']}"
    if r.get("skipped"):
        return f"skipped: {r['skipped']}"
    return {True: "yes", False: "NO", None: "-"}[r.get("met")]


def format_table(rows: list[dict[str, Any]]) -> str:
    """Plain aligned text (pipes and logs keep it)."""
    from benchmarks.harness import fmt_value

    header = ("BENCH", "MEASURE", "BASELINE", "CANDIDATE", "RATIO", "GOAL", "MET")
    lines = [header]
    for r in rows:
        unit = r.get("unit", "")
        ratio = r.get("ratio")
        lines.append((r["bench"], r["name"],
                      fmt_value(r.get("baseline"), unit) if "unit" in r else "",
                      fmt_value(r.get("candidate"), unit) if "unit" in r else "",
                      f"{ratio:.2f}x" if ratio is not None else "-",
                      r.get("goal") or "-", _status(r)))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    out = []
    for line in lines:
        out.append("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=False)) + "  " + line[-1])
    return "\n".join(s.rstrip() for s in out)


def _machine() -> dict[str, Any]:
    info: dict[str, Any] = {"python": platform.python_version(), "platform": platform.platform(),
                            "cpus": os.cpu_count()}
    try:
        import torch

        info["torch"] = torch.__version__
        info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except Exception as e:  # the table is still useful without torch details
        info["torch"] = f"unavailable: {type(e).__name__}"
    return info


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes and few repeats (minutes, not hours)")
    ap.add_argument("--only", metavar="NAME,...", help="run only these benches (see --list)")
    ap.add_argument("--json", metavar="FILE", type=Path, help="also write the rows and machine info here")
    ap.add_argument("--list", action="store_true", help="list the bench modules and exit")
    ap.add_argument("--timeout", type=float, default=None, metavar="S", help="per-bench time limit")
    ap.add_argument("--run-one", help=argparse.SUPPRESS)
    ap.add_argument("--rows-to", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.run_one:
        return _run_one(args.run_one, args.quick, args.rows_to)

    benches = discover()
    if args.list:
        width = max(map(len, benches), default=0)
        for name, doc in benches.items():
            print(f"{name.ljust(width)}  {doc}")
        return 0
    names = _select(args.only, list(benches))
    rows: list[dict[str, Any]] = []
    timings = {}
    for name in names:
        print(f"\n=== {name}{' (quick)' if args.quick else ''}: {benches[name]}", file=sys.stderr, flush=True)
        got, elapsed = _run_child(name, args.quick, args.timeout)
        rows += got
        timings[name] = round(elapsed, 1)
        print(f"=== {name}: {elapsed:.1f} s", file=sys.stderr, flush=True)
    machine = _machine()
    print()
    print(f"clpbert benchmarks{' (quick)' if args.quick else ''} on {machine.get('cuda') or 'CPU only'}, "
          f"{machine['cpus']} CPUs, python {machine['python']}, torch {machine.get('torch')}; "
          "ratio = times better than the baseline")
    print(format_table(rows))
    goals = [r for r in rows if r.get("met") is not None]
    print(f"goals met: {sum(bool(r['met']) for r in goals)} of {len(goals)}; "
          f"seconds per bench: {', '.join(f'{k} {v:g}' for k, v in timings.items())}")
    if args.json:
        tmp = args.json.with_name(f".{args.json.name}.tmp")
        tmp.write_text(json.dumps({"machine": machine, "quick": args.quick, "seconds": timings, "rows": rows},
                                  indent=1) + "\n")
        os.replace(tmp, args.json)
    return 1 if any(r.get("error") for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
