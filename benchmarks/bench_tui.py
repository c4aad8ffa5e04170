"""TUI scale: first paint and per-refresh time of the runs screen on 10 000 runs / 1 000 000 points.

    python -m benchmarks.bench_tui [--runs 10000] [--points 1000000] [--repeats 20] [--rebuild]

Both sides run headless (App.run_test) on the same registry, in the same process:

  baseline   a plain Textual DataTable holding every run (10 000 rows x 8 columns), filled from
             one `list_runs()`; a refresh re-reads every run and refills the table.
  candidate  the clpbert app's runs screen: the virtualised RunsTable (count_runs + one windowed
             list_runs, only visible lines rendered); a refresh re-reads the window.

"First paint" is from constructing the app to the first full frame with rows in it; "refresh" is
from asking for new data to the repainted frame (a frame counts when it is painted while the
condition holds, checked in the app's thread). Run detail: opening the screen on the longest run
(half the points) and on a one-run registry of --detail-points (500k) points, to the first frame
with the curves drawn, and one refresh after 10 new points once it has settled; each a median of
>= 5, against an empty screen (header, a line, the key footer) pushed and repainted the same way
in the same app: Textual's own floor on this machine. The load average is printed alongside.
Registries are built once under .bench/tui/ (through the registry API) and reused.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / ".bench" / "tui"
SIZE = (160, 50)
STATES = ("finished",) * 6 + ("failed", "killed", "running", "queued")
TASKS = ("msrvtt_qa", "msrvtt_ret", "tgif_qa_action", "didemo_ret", "demo", "pretrain")


def build_registry(home: Path, n_runs: int, n_points: int) -> str:
    """n_runs runs; half the points on one long run, the rest spread over the others. Returns the long run."""
    from clpbert.registry import open_registry

    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)
    os.environ["CLPBERT_HOME"] = str(home)
    rng = random.Random(0)
    t0 = time.perf_counter()
    with open_registry() as reg:
        ids = []
        for i in range(n_runs):
            name = f"run-{i:05d}-{rng.randrange(16**6):06x}"
            run = reg.create_run("finetune", TASKS[i % len(TASKS)], name=name,
                                 state=STATES[i % len(STATES)], total_steps=10_000, dataset="demo",
                                 gpus=[(i % 8, None)])
            ids.append(run.id)
        long_run = ids[0]
        long_points = n_points // 2
        now = time.time()
        batch = []
        for s in range(long_points // 2):
            batch += [(s, "train/loss", 3.0 / (1 + s / 1000) + rng.random() * 0.1, now - long_points + s),
                      (s, "train/lr", 5e-5 * (1 - s / long_points), now - long_points + s)]
            if len(batch) >= 100_000:
                reg.add_metrics(long_run, batch)
                batch = []
        if batch:
            reg.add_metrics(long_run, batch)
        per_run = max(1, (n_points - long_points) // max(1, n_runs - 1))
        for run_id in ids[1:]:
            reg.add_metrics(run_id, [(s * 10, "train/loss", 2.0 / (1 + s), now) for s in range(per_run)])
    print(f"built registry: {n_runs} runs, {n_points} points in {time.perf_counter() - t0:.1f}s",
          file=sys.stderr)
    return long_run


def ensure_registry(n_runs: int, n_points: int, rebuild: bool) -> tuple[Path, str]:
    home = BENCH_DIR / f"home-{n_runs}-{n_points}"
    marker = home / "bench.json"
    if rebuild or not marker.exists():
        long_run = build_registry(home, n_runs, n_points)
        marker.write_text(json.dumps({"long_run": long_run}))
    os.environ["CLPBERT_HOME"] = str(home)
    return home, json.loads(marker.read_text())["long_run"]


class FrameClock:
    """Notes when the app hands a rendered frame to the driver (headless drivers then drop it).

    Mixed into both apps, so "painted" means the same thing on each side: the first frame handed
    over while the condition the caller waits for holds (checked at that frame, in the app's own
    thread, so a waiting coroutine that the event loop schedules late does not add a frame).
    """

    frames = 0
    _watch: tuple[Any, asyncio.Future[float]] | None = None

    def _display(self, screen, renderable) -> None:  # type: ignore[no-untyped-def]
        if renderable is not None:
            self.frames += 1
            watch = self._watch
            if watch is not None and not watch[1].done() and watch[0]():
                watch[1].set_result(time.perf_counter())
                self._watch = None
        super()._display(screen, renderable)  # type: ignore[misc]

    async def painted_when(self, ready) -> float:  # type: ignore[no-untyped-def]
        """perf_counter() of the first frame painted while ready() holds."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._watch = (ready, future)
        return await future


def touch_visible_run(data) -> None:  # type: ignore[no-untyped-def]
    """New progress on the newest run (the top row), as a live run's ingest would write."""
    run = data.registry.list_runs(limit=1)[0]
    data.registry.update_run(run.id, step=run.step + 1, latest_loss=(run.latest_loss or 1.0) * 0.999)


# -- baseline: a plain DataTable with every run --------------------------------------------------


def baseline_app(data):  # type: ignore[no-untyped-def]
    from textual.app import App, ComposeResult
    from textual.widgets import DataTable

    from tui import formatting as fmt

    def rows():  # type: ignore[no-untyped-def]
        runs = data.registry.list_runs(limit=None)
        return [(r.id, r.name, r.task, str(r.state), fmt.progress(r.step, r.total_steps),
                 fmt.number(r.latest_loss), fmt.number(r.best_metric_value),
                 fmt.duration(time.time() - r.created))
                for r in runs]

    class Baseline(FrameClock, App[None]):
        def compose(self) -> ComposeResult:
            yield DataTable(id="t")

        def on_mount(self) -> None:
            table = self.query_one(DataTable)
            table.add_columns("ID", "Name", "Task", "State", "Step", "Loss", "Best", "Age")
            table.add_rows(rows())

        def refill(self) -> None:
            table = self.query_one(DataTable)
            table.clear()
            table.add_rows(rows())

    return Baseline()


async def measure_baseline(data, repeats: int) -> tuple[float, list[float], int]:  # type: ignore[no-untyped-def]
    from textual.widgets import DataTable

    t0 = time.perf_counter()
    app = baseline_app(data)
    async with app.run_test(size=SIZE):
        table = app.query_one(DataTable)
        first = await app.painted_when(lambda: table.row_count > 0) - t0
        refreshes = []
        for _ in range(repeats):
            touch_visible_run(data)
            t = time.perf_counter()
            app.refill()
            refreshes.append(await app.painted_when(lambda: True) - t)
        n = table.row_count
    return first, refreshes, n


# -- candidate: the clpbert runs screen ---------------------------------------------------------


def candidate_app(data):  # type: ignore[no-untyped-def]
    from tui.app import ClpbertApp

    class Candidate(FrameClock, ClpbertApp):
        pass

    return Candidate(data, refresh_s=3600)


async def measure_candidate(data, repeats: int) -> tuple[float, list[float], int]:  # type: ignore[no-untyped-def]
    from tui.widgets.runs_table import RunsTable

    t0 = time.perf_counter()
    app = candidate_app(data)
    async with app.run_test(size=SIZE):
        table = app.screen.query_one(RunsTable)
        first = await app.painted_when(lambda: table.load_count > 0) - t0
        refreshes = []
        for _ in range(repeats):
            touch_visible_run(data)
            t = time.perf_counter()
            loads = table.load_count
            table.reload()
            refreshes.append(await app.painted_when(lambda loads=loads: table.load_count > loads) - t)
        total = table.total
    return first, refreshes, total


async def settle(app, pilot) -> None:  # type: ignore[no-untyped-def]
    """Until the screen below has reloaded (its worker) and painted: each open starts from rest."""
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


def empty_screen():  # type: ignore[no-untyped-def]
    """The floor: a header, one line of text and the key footer, pushed like the detail screen."""
    from textual.screen import Screen
    from textual.widgets import Header, Static

    from tui.widgets.key_footer import KeyFooter

    class Empty(Screen[None]):
        def compose(self):  # type: ignore[no-untyped-def]
            yield Header()
            yield Static("empty", id="empty-text")
            yield KeyFooter()

    return Empty()


async def measure_detail(data, run_id: str, repeats: int) -> dict[str, list[float]]:  # type: ignore[no-untyped-def]
    """Open the detail screen of `run_id` `repeats` times; each time, once it has settled, add 10
    points and time one refresh. Before each open, the same for an empty screen (push to its first
    frame; one text update to its frame): Textual's own floor on this machine, the baseline.

    open: to the first frame with the curves drawn from the data; settled: until the app is idle
    (the other tabs are mounted after that first frame)."""
    from textual.widgets import Static

    from tui.screens.run_detail import RunDetailScreen

    app = candidate_app(data)
    out: dict[str, list[float]] = {"empty_open": [], "empty_refresh": [], "open": [], "settled": [],
                                   "refresh": []}
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        for _ in range(repeats):
            empty = empty_screen()
            t0 = time.perf_counter()
            app.push_screen(empty)
            out["empty_open"].append(await app.painted_when(lambda e=empty: app.screen is e) - t0)
            await pilot.pause()
            t = time.perf_counter()
            empty.query_one("#empty-text", Static).update(f"empty {t}", layout=False)
            out["empty_refresh"].append(await app.painted_when(lambda: True) - t)
            app.pop_screen()
            await settle(app, pilot)

            t0 = time.perf_counter()
            app.open_run(run_id)
            out["open"].append(await app.painted_when(
                lambda: isinstance(app.screen, RunDetailScreen) and app.screen.after_metric_id is not None)
                - t0)
            await pilot.pause()
            out["settled"].append(time.perf_counter() - t0)
            screen = app.screen
            step = data.registry.get_run(run_id).step
            new_points = [(step + i, "train/loss", 0.5, time.time()) for i in range(1, 11)]
            data.registry.add_metrics(run_id, new_points)
            before = screen.after_metric_id
            t = time.perf_counter()
            screen.refresh_data()
            out["refresh"].append(await app.painted_when(
                lambda s=screen, before=before: s.after_metric_id != before) - t)
            app.pop_screen()
            await settle(app, pilot)
    return out


def detail_summary(times: dict[str, list[float]], points: int) -> dict[str, Any]:
    """Medians of measure_detail's times, for a run of `points` points."""
    return {"points": points, "repeats": len(times["open"]),
            **{k: round(statistics.median(v), 5) for k, v in times.items()}}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--detail-points", type=int, nargs="*", default=[500_000],
                        help="also open runs of these sizes (one-run registries; the long run of the "
                             "main registry has --points / 2)")
    parser.add_argument("--rebuild", action="store_true", help="build the registries again")
    args = parser.parse_args(argv)
    os.environ["CLPBERT_FAKE_NVML"] = os.environ.get("CLPBERT_FAKE_NVML", "8-gpus-mixed")
    detail_repeats = max(5, args.repeats // 4)
    _, long_run = ensure_registry(args.runs, args.points, args.rebuild)
    detail_homes = [(n, *ensure_registry(1, 2 * n, args.rebuild)) for n in args.detail_points
                    if n != args.points // 2]
    load_before = os.getloadavg()[0]
    os.environ["CLPBERT_HOME"] = str(BENCH_DIR / f"home-{args.runs}-{args.points}")

    from tui.data import TuiData

    data = TuiData.open()
    try:
        base_first, base_refresh, base_rows = asyncio.run(measure_baseline(data, max(3, args.repeats // 4)))
        cand_first, cand_refresh, cand_rows = asyncio.run(measure_candidate(data, args.repeats))
        details = [detail_summary(asyncio.run(measure_detail(data, long_run, detail_repeats)),
                                  args.points // 2)]
    finally:
        data.close()
    for n, home, run_id in detail_homes:
        os.environ["CLPBERT_HOME"] = str(home)
        data = TuiData.open()
        try:
            details.append(detail_summary(asyncio.run(measure_detail(data, run_id, detail_repeats)), n))
        finally:
            data.close()
    load = round((load_before + os.getloadavg()[0]) / 2, 2)
    base_r, cand_r = statistics.median(base_refresh), statistics.median(cand_refresh)
    print(f"registry: {args.runs} runs, {args.points} metric points; terminal {SIZE[0]}x{SIZE[1]}; "
          f"load average {load} on {os.cpu_count()} CPUs")
    print(f"first paint  baseline DataTable ({base_rows} rows x 8 cols): {base_first * 1000:8.0f} ms")
    print(f"first paint  clpbert RunsTable ({cand_rows} runs, windowed):   {cand_first * 1000:8.0f} ms   "
          f"(goal <= 1000 ms)  speed-up x{base_first / cand_first:.1f}")
    print(f"refresh      baseline (median of {len(base_refresh)}):                {base_r * 1000:8.1f} ms")
    print(f"refresh      clpbert (median of {len(cand_refresh)}, max {max(cand_refresh) * 1000:.1f} ms):   "
          f"{cand_r * 1000:8.1f} ms   (goal <= 50 ms)  speed-up x{base_r / cand_r:.1f}")
    for d in details:
        print(f"run detail   {d['points']:,} points (median of {d['repeats']}): "
              f"open {d['open'] * 1000:.0f} ms "
              f"(goal <= 150 ms; empty screen {d['empty_open'] * 1000:.0f} ms), settled "
              f"{d['settled'] * 1000:.0f} ms; refresh +10 points {d['refresh'] * 1000:.1f} ms "
              f"(goal <= 30 ms; empty screen repaint {d['empty_refresh'] * 1000:.1f} ms)")
    print(json.dumps({
        "bench": "tui", "runs": args.runs, "points": args.points, "load": load,
        "baseline_first_paint_s": round(base_first, 4), "candidate_first_paint_s": round(cand_first, 4),
        "first_paint_ratio": round(base_first / cand_first, 2),
        "baseline_refresh_s": round(base_r, 5), "candidate_refresh_s": round(cand_r, 5),
        "refresh_ratio": round(base_r / cand_r, 2),
        "detail": details,
    }))


def run(quick: bool = False) -> list[dict]:
    """Rows for `python -m benchmarks`: the windowed runs screen against a plain DataTable of every
    run; the run detail screen (50k and 500k points) against an empty screen, Textual's floor."""
    from benchmarks.harness import main_summary, row

    argv = ["--runs", "1000", "--points", "100000", "--repeats", "4"] if quick else []
    s = main_summary(main, argv)
    scale = f"{s['runs']:,} runs / {s['points']:,} points"
    load = f"load average {s['load']} on {os.cpu_count()} CPUs"
    rows = [row("tui", f"runs screen first paint, {scale}", "s", s["baseline_first_paint_s"],
                s["candidate_first_paint_s"], better="lower", goal_value=1.0),
            row("tui", f"runs screen refresh, {scale}", "s", s["baseline_refresh_s"],
                s["candidate_refresh_s"], better="lower", goal_value=0.05)]
    for d in s["detail"]:
        n = f"{d['points']:,} points"
        rows += [row("tui", f"run detail open, {n}: empty screen vs detail", "s", d["empty_open"],
                     d["open"], better="lower", goal_value=0.15,
                     note=f"median of {d['repeats']}; settled {d['settled'] * 1000:.0f} ms; {load}"),
                 row("tui", f"run detail refresh +10 points, {n}: empty repaint vs detail", "s",
                     d["empty_refresh"], d["refresh"], better="lower", goal_value=0.03,
                     note=f"median of {d['repeats']}; {load}")]
    return rows


if __name__ == "__main__":
    main()
