"""The benchmark suite stays whole: `python -m benchmarks --list` names every bench module, each
module imports and exposes `run(quick)`, and the shared row maths is right."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # benchmarks/ is not an installed package; `python -m pytest` adds cwd
    sys.path.insert(0, str(REPO))

from benchmarks import harness  # noqa: E402
from benchmarks.__main__ import format_table  # noqa: E402

MODULES = sorted(p.stem for p in (REPO / "benchmarks").glob("bench_*.py"))


def test_list_names_every_bench_module() -> None:
    out = subprocess.run([sys.executable, "-m", "benchmarks", "--list"], cwd=REPO, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    listed = sorted(f"bench_{line.split()[0]}" for line in out.stdout.splitlines() if line.strip())
    assert listed == MODULES


@pytest.mark.parametrize("module", MODULES)
def test_bench_module_exposes_run_quick(module: str) -> None:
    mod = importlib.import_module(f"benchmarks.{module}")
    run = getattr(mod, "run", None)
    assert callable(run), f"benchmarks/{module}.py has no run(quick) for `python -m benchmarks`"
    assert "quick" in inspect.signature(run).parameters


def test_unknown_bench_name_is_refused() -> None:
    out = subprocess.run([sys.executable, "-m", "benchmarks", "--only", "no_such_bench"], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "unknown bench no_such_bench" in out.stderr


def test_ratio_means_times_better_in_both_directions() -> None:
    faster = harness.row("b", "time", "s", 0.4, 0.1, better="lower", goal_value=0.15)
    assert faster["ratio"] == pytest.approx(4.0) and faster["met"] is True
    slower = harness.row("b", "rate", "items/s", 100.0, 50.0, goal_ratio=1.0)
    assert slower["ratio"] == pytest.approx(0.5) and slower["met"] is False
    no_base = harness.row("b", "time", "s", None, 0.5, better="lower", goal_value=0.3)
    assert no_base["ratio"] is None and no_base["met"] is False


def test_table_shows_skipped_and_failed_parts() -> None:
    rows = [harness.row("registry", "ingest", "points/s", 300_000.0, 250_000.0, goal_value=100_000),
            harness.skipped("train_step", "GPU shape", "no CUDA GPU"),
            {"bench": "loader", "name": "(bench failed)", "error": "exit code 1 (output above)"}]
    table = format_table(rows)
    assert "300,000 points/s" in table and "0.83x" in table and ">= 100,000 points/s" in table
    assert "skipped: no CUDA GPU" in table and "ERROR: exit code 1" in table


def test_main_summary_returns_the_last_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    def main(argv: list[str]) -> None:
        print('{"bench": "x", "n": 1}')
        print(f'{{"bench": "x", "n": {len(argv)}}}')
        print("done")

    assert harness.main_summary(main, ["a", "b"]) == {"bench": "x", "n": 2}
    assert "done" in capsys.readouterr().err  # the bench's own output stays visible, on stderr
