"""Saved predictions: the cost of writing them at each evaluation, and opening / filtering 100k in the TUI.

    python -m benchmarks.bench_predictions [--rows 100000] [--val 250] [--repeats 3]

Three comparisons (and two reference rows), each side measured in this process:

  eval overhead   the demo preset's model (untrained, same cost) evaluating a generated demo val
                  split through Trainer.evaluate() on one thread: baseline eval.save_predictions=false,
                  candidate true (building the rows, gathering them and writing the Parquet file
                  included). Median process CPU time of >= 5 alternating runs, so other load on the
                  machine blurs 5 % less (one warm-up evaluation first; the sides alternate which
                  runs first); the note adds the trainer's own write_s / eval_s.
                  Goal: at most 5 % slower (ratio >= 0.95).
  open            a 100k-example QA predictions file. Baseline: the same rows as a JSON file read
                  with the standard library's json.load. Candidate: the TUI's predictions screen
                  (registry lookup, Parquet read, per-type bars, first window of rows), from
                  pushing the screen to the first frame painted with rows, headless, median of >= 5.
                  Goal: <= 300 ms.
                  Also: an empty Textual screen (header, text, footer) and the same screen on 100
                  examples, measured alike: the floor Textual sets on this machine, and that the
                  row count adds (almost) nothing.
  filter          wrong only + one question type + a text search over the 100k rows. Baseline: a
                  list comprehension over the json-loaded dicts; candidate: the screen's
                  vectorised filter (analysis.filter_indices) and its redraw. Goal: <= 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import row

WORDS = ("dog", "cat", "car", "man", "woman", "girl", "boy", "ball", "table", "tree", "red", "blue")
TYPES = ("what", "who", "how", "where", "when")


def make_rows(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """n QA rows shaped like MSRVTT-QA's (question of 6-12 words, top-5 answers with probabilities)."""
    from clpbert.predictions import schema

    rng = random.Random(seed)
    rows = []
    for i in range(n):
        words = [rng.choice(WORDS) for _ in range(rng.randint(6, 12))]
        answer = rng.choice(WORDS)
        cands = rng.sample(WORDS, 5)
        probs = sorted((rng.random() for _ in range(5)), reverse=True)
        total = sum(probs)
        probs = [p / total for p in probs]
        right = cands[0] == answer
        rows.append(schema.record(example_id=i, video_key=f"video{i % 2990 + 7010}", type=TYPES[i % 5],
                                  text="what is the " + " ".join(words) + "?", answer=answer, pred=cands[0],
                                  correct=right, score=probs[0],
                                  rank=cands.index(answer) + 1 if answer in cands else 6 + i % 50,
                                  candidates=cands, candidate_scores=probs))
    return rows


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


# -- eval overhead ---------------------------------------------------------------------------------


def eval_overhead(work: Path, n_val: int, repeats: int) -> tuple[float, float, int, float]:
    """(median eval CPU seconds without, with saving predictions; rows written; the file write's share
    of the eval time as the trainer records it in the eval event, write_s / eval_s)."""
    from clpbert.config import preset
    from clpbert.data.demo import generate_demo_dataset
    from clpbert.train.loop import Trainer

    data = generate_demo_dataset(work / "demo", n_train=4, n_val=n_val, seed=0, workers=0)
    cfg = preset("demo")
    d = cfg.data
    d.dataset, d.txt_db, d.vis_db = "", str(data / "txt_db"), str(data / "vis_db")
    d.tokenizer, d.num_workers, d.pin_memory = str(data / "tokenizer"), 0, False
    cfg.runtime.device, cfg.runtime.num_threads = "cpu", 1
    cfg.data.test_split = ""
    trainer = Trainer(cfg, work / "run")
    trainer._build_data()
    trainer._build_model()
    times: dict[bool, list[float]] = {False: [], True: []}
    rows = 0
    cfg.eval.save_predictions = False
    trainer.evaluate()  # warm-up: first-call costs (allocator, decoder setup) on neither side
    for i in range(repeats):
        for save in ((False, True) if i % 2 == 0 else (True, False)):
            cfg.eval.save_predictions = save
            t0 = time.process_time()  # this process's CPU time: robust to other load on a shared box
            trainer.evaluate()
            times[save].append(time.process_time() - t0)
    trainer.events.close()
    from clpbert.train.events import read_events

    saved = [e for e in read_events(work / "run") if e["event"] == "eval" and e.get("predictions")]
    rows = saved[-1]["predictions"]["rows"] if saved else 0
    write = statistics.median(e["predictions"]["write_s"] / e["metrics"]["eval_s"] for e in saved)
    return statistics.median(times[False]), statistics.median(times[True]), rows, write


# -- TUI open and filter ---------------------------------------------------------------------------


def registry_with_predictions(home: Path, rows: list[dict[str, Any]], name: str = "bench-predictions"
                              ) -> str:
    from clpbert.predictions import schema, store
    from clpbert.registry import open_registry

    os.environ["CLPBERT_HOME"] = str(home)
    with open_registry() as reg:
        run = reg.create_run("finetune", "msrvtt_qa", name=name, state="finished")
        ev = reg.add_eval(run.id, 1000, "val", {"acc": sum(r["correct"] for r in rows) / len(rows)})
        rel = store.write_predictions(run.run_dir, 1000, "val", schema.QA, rows, task="msrvtt_qa")
        reg.add_eval_predictions(ev.id, str(rel), kind=schema.QA, rows=len(rows))
        return run.id


async def tui_open_and_filter(run_id: str, small_run_id: str, repeats: int) -> dict[str, float | int]:
    """Medians of `repeats`, headless: opening the predictions screen (to the first frame painted
    with its rows), filtering (to the first frame painted after it), and, as the floor of this
    machine, pushing an empty screen (header, text, the key footer every clpbert screen has) to its
    first frame. Frames are timed when painted (bench_tui.FrameClock), as in the TUI bench."""
    from textual.screen import Screen
    from textual.widgets import Header, Static

    from benchmarks.bench_tui import FrameClock
    from tui.app import ClpbertApp
    from tui.data import TuiData
    from tui.screens.predictions import PredictionsScreen
    from tui.widgets.key_footer import KeyFooter
    from tui.widgets.predictions_table import PredictionsTable

    class Empty(Screen[None]):
        def compose(self):
            yield Header()
            yield Static("empty")
            yield KeyFooter()

    class App(FrameClock, ClpbertApp):
        pass

    app = App(TuiData.open(), refresh_s=3600.0, reconcile_s=0.0)
    empties, opens, smalls, filters, matched = [], [], [], [], 0
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        for _ in range(repeats):
            empty = Empty()
            t0 = time.perf_counter()
            app.push_screen(empty)
            empties.append(await app.painted_when(lambda e=empty: app.screen is e) - t0)
            app.pop_screen()
            await pilot.pause()
            for rid, times in ((small_run_id, smalls), (run_id, opens)):
                screen = PredictionsScreen(rid)
                t0 = time.perf_counter()
                app.push_screen(screen)
                times.append(await app.painted_when(  # the first frame with the table's rows
                    lambda s=screen: app.screen is s and s.view is not None
                    and s.query_one(PredictionsTable).total > 0) - t0)
                await pilot.pause()
                if rid == small_run_id:
                    app.pop_screen()
                    await pilot.pause()
            while screen.view.index is None:  # built alongside the first paint, before anyone types
                await asyncio.sleep(0.001)
            await pilot.pause()
            t0 = time.perf_counter()
            screen.wrong, screen.type, screen.text = True, "what", "ball"
            screen.apply_filters()
            filters.append(await app.painted_when(lambda: True) - t0)  # the frame showing the result
            matched = screen.matched
            app.pop_screen()
            await pilot.pause()
    app.data.close()
    med = statistics.median
    return {"empty": med(empties), "open": med(opens), "small": med(smalls), "filter": med(filters),
            "matched": matched, "repeats": len(opens), "load": os.getloadavg()[0]}


def data_filter_time(home: Path, run_id: str, repeats: int) -> float:
    """The screen's filter without the screen: filter_indices over the saved table and its index."""
    from clpbert.predictions import analysis, lookup, store
    from clpbert.registry import open_registry

    os.environ["CLPBERT_HOME"] = str(home)
    with open_registry() as reg:
        path = lookup.find_saved_eval(reg, reg.get_run(run_id)).path
    table = store.read_table(path)
    index = analysis.search_index(table)
    return best_of(lambda: analysis.filter_indices(table, wrong=True, type="what", text="ball", index=index),
                   repeats)


def json_baseline(path: Path, repeats: int) -> tuple[float, float, int]:
    """(json.load seconds, list-comprehension filter seconds, rows matched)."""
    holder: dict[str, Any] = {}

    def load() -> None:
        with path.open() as f:
            holder["rows"] = json.load(f)

    def filt() -> None:
        holder["hit"] = [r for r in holder["rows"] if not r["correct"] and r["type"] == "what"
                         and any("ball" in (r[c] or "").lower()
                                 for c in ("text", "answer", "pred", "video_key", "example_id"))]

    t_load = best_of(load, repeats)
    t_filter = best_of(filt, repeats)
    return t_load, t_filter, len(holder["hit"])


def run(quick: bool = False, n_rows: int = 100_000, n_val: int | None = None,
        repeats: int | None = None) -> list[dict[str, Any]]:
    n_val = n_val or (32 if quick else 250)
    repeats = repeats or (2 if quick else 3)
    out = []
    with tempfile.TemporaryDirectory(prefix="clpbert_bench_predictions_") as tmp:
        work = Path(tmp)
        os.environ["CLPBERT_HOME"] = str(work / "home")
        base, cand, written, write_share = eval_overhead(work, n_val, max(repeats, 5))
        print(json.dumps({"eval_s_without": round(base, 3), "eval_s_with": round(cand, 3), "rows": written,
                          "write_share": round(write_share, 4)}), flush=True)
        out.append(row("predictions", f"demo eval of {n_val} val videos (CPU s): predictions off vs on", "s",
                       base, cand, better="lower", goal_ratio=0.95,
                       note=f"median of >= 5; {written} rows; file write: {write_share:.1%} of eval_s"))

        rows = make_rows(n_rows)
        run_id = registry_with_predictions(work / "tui_home", rows)
        small_id = registry_with_predictions(work / "tui_home", rows[:100], name="bench-predictions-100")
        json_path = work / "rows.json"
        json_path.write_text(json.dumps(rows))
        t_json, t_json_filter, hits_json = json_baseline(json_path, repeats)
        tui = asyncio.run(tui_open_and_filter(run_id, small_id, max(repeats, 5)))
        t_open, t_filter, hits = tui["open"], tui["filter"], tui["matched"]
        print(json.dumps({"json_load_s": round(t_json, 3), "tui_open_s": round(t_open, 3),
                          "empty_screen_s": round(tui["empty"], 3), "open_100_rows_s": round(tui["small"], 3),
                          "json_filter_s": round(t_json_filter, 4),
                          "tui_filter_s": round(t_filter, 4), "matched": [hits_json, hits]}), flush=True)
        assert hits == hits_json, (hits, hits_json)
        load = f"median of {tui['repeats']}, load average {tui['load']:.2f} on {os.cpu_count()} CPUs"
        out.append(row("predictions", f"open a {n_rows:,}-example eval: json.load vs TUI screen", "s",
                       t_json, t_open, better="lower", goal_value=0.3,
                       note=f"file {(json_path.stat().st_size / 2**20):.0f} MiB as JSON; {load}"))
        out.append(row("predictions", "open: an empty Textual screen (the floor) vs the TUI screen",
                       "s", tui["empty"], t_open, better="lower", note="no goal: shows Textual's own cost"))
        out.append(row("predictions", f"open: the same screen on 100 examples vs {n_rows:,}", "s",
                       tui["small"], t_open, better="lower", note="~1x: virtualised"))
        out.append(row("predictions", "filter wrong + type + text: list comprehension vs TUI", "s",
                       t_json_filter, t_filter, better="lower", goal_value=0.1,
                       note=f"{hits} rows match; {load}"))
        out.append(row("predictions", "filter, data only: list comprehension vs analysis.filter_indices", "s",
                       t_json_filter, data_filter_time(work / "tui_home", run_id, repeats), better="lower",
                       note="the TUI row minus Textual's repaint"))
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--val", type=int, default=250, help="Demo val videos for the eval-overhead part.")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    rows = run(n_rows=args.rows, n_val=args.val, repeats=args.repeats)
    print(json.dumps({"bench": "predictions", "rows": rows, "all_met": all(r["met"] for r in rows)}))


if __name__ == "__main__":
    main()
