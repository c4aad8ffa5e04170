"""Registry speed: metric ingest against raw sqlite3, listing 10k runs, downsampling 1M points,
compacting 1M GPU samples.

    python -m benchmarks.bench_registry [--points 200000] [--batch 1000] [--runs 10000]
                                        [--series 1000000] [--samples 1000000]

  ingest     baseline: raw sqlite3 (WAL, synchronous=NORMAL) executemany into the same `metrics` table
             (same indexes), one BEGIN IMMEDIATE..COMMIT per batch. candidate: Registry.add_metrics
             with the same batches (adds the metric_latest upsert and the run's step/loss update).
             Targets: candidate >= 100k points/s.
  list       Registry.list_runs() over --runs runs (realistic resolved configs stored). Target <= 0.3 s.
  downsample Registry.metric_series(max_points=1000) of one --series-point metric. Target <= 0.2 s.
  compact    --samples 1 Hz GPU samples (8 GPUs, one ended run, all older than a day). baseline: a
             plain DELETE of the same rows in one transaction (raw sqlite3: the floor for touching
             them at all). candidate: retention.compact_all, the pass a supervisor runs when its run
             ends (60 s buckets, one transaction per 30 buckets). Target >= 100k samples/s. Also
             timed: the same pass again (nothing left to do) and the not-due check every CLI start
             makes (maybe_compact).

Times are wall clock (the machine may be shared); one JSON line at the end.
"""

import argparse
import json
import random
import sqlite3
import tempfile
import time
from pathlib import Path


def _batches(run_id: str, n: int, batch: int, name: str = "loss") -> list[list[tuple]]:
    rows = [(s, name, random.random(), 1.7e9 + s) for s in range(n)]
    return [rows[i:i + batch] for i in range(0, n, batch)]


def bench_ingest(url: str, db_path: Path, points: int, batch: int) -> dict:
    from clpbert.registry import open_registry

    reg = open_registry(url)
    base_run = reg.create_run("finetune", "msrvtt_qa").id
    cand_run = reg.create_run("finetune", "msrvtt_qa").id
    base_batches = _batches(base_run, points, batch)
    cand_batches = _batches(cand_run, points, batch)

    con = sqlite3.connect(db_path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    sql = "INSERT INTO metrics (run_id, step, name, value, time) VALUES (?, ?, ?, ?, ?)"
    t = time.perf_counter()
    for b in base_batches:
        con.execute("BEGIN IMMEDIATE")
        con.executemany(sql, [(base_run, s, n, v, tt) for s, n, v, tt in b])
        con.execute("COMMIT")
    base_s = time.perf_counter() - t
    con.close()

    t = time.perf_counter()
    for b in cand_batches:
        reg.add_metrics(cand_run, b)
    cand_s = time.perf_counter() - t
    assert reg.latest_metrics(cand_run)["loss"].count == points
    reg.close()
    return {"points": points, "batch": batch, "baseline_pts_s": points / base_s,
            "candidate_pts_s": points / cand_s, "ratio": base_s / cand_s}


def bench_list(url: str, n_runs: int) -> dict:
    from sqlalchemy import insert

    from clpbert.config import preset
    from clpbert.registry import open_registry
    from clpbert.registry.models import RunRow

    reg = open_registry(url)
    config = preset("msrvtt_qa").to_dict()
    now = time.time()
    rows = [{"id": f"{i:08x}", "name": f"sweep-{i}", "kind": "finetune", "task": "msrvtt_qa",
             "dataset": "msrvtt",
             "config": config, "state": "finished", "host": "bench", "gpus": [{"index": 0, "uuid": None}],
             "nnodes": 1, "created": now + i, "tags": ["bench"], "notes": "", "run_dir": f"/runs/{i:08x}",
             "step": 1000, "total_steps": 1000} for i in range(n_runs)]
    with reg._engine.begin() as conn:  # setup only: bulk rows, not the API under test
        conn.execute(insert(RunRow.__table__), rows)
    timings = {}
    for label, kwargs in (("all", {}), ("page50", {"limit": 50}), ("search", {"text": "sweep-99"})):
        best = float("inf")
        cpu = float("inf")
        for _ in range(3):
            t, c = time.perf_counter(), time.process_time()
            out = reg.list_runs(**kwargs)
            best = min(best, time.perf_counter() - t)
            cpu = min(cpu, time.process_time() - c)
        timings[label] = {"s": best, "cpu_s": cpu, "rows": len(out)}
    t = time.perf_counter()
    reg.count_runs()
    timings["count_s"] = time.perf_counter() - t
    reg.close()
    return {"runs": n_runs, **timings}


def bench_downsample(url: str, n: int) -> dict:
    from clpbert.registry import open_registry

    reg = open_registry(url)
    run = reg.create_run("pretrain", "pretrain").id
    t = time.perf_counter()
    for b in _batches(run, n, 50_000):
        reg.add_metrics(run, b)
    ingest_s = time.perf_counter() - t
    out = {"points": n, "ingest_pts_s": n / ingest_s}
    for label, max_points in (("1k", 1000), ("200", 200)):
        best = cpu = float("inf")
        for _ in range(3):
            t, c = time.perf_counter(), time.process_time()
            s = reg.metric_series(run, "loss", max_points=max_points)
            best = min(best, time.perf_counter() - t)
            cpu = min(cpu, time.process_time() - c)
        out[f"series_{label}_s"] = best
        out[f"series_{label}_cpu_s"] = cpu
        out[f"series_{label}_points"] = len(s.steps)
    t = time.perf_counter()
    s = reg.metric_series(run, "loss", max_points=1000, min_step=n // 4, max_step=n // 4 + 150_000)
    out["zoom_150k_s"] = time.perf_counter() - t
    reg.close()
    return out


def bench_compact(db_path: Path, n: int) -> dict:
    import shutil

    from clpbert.registry import open_registry, retention
    from clpbert.registry.gpu_queries import GPU_FIELDS, T_GPU

    url = f"sqlite:///{db_path}"
    reg = open_registry(url)
    now = time.time()
    run = reg.create_run("pretrain", "pretrain")
    reg.set_run_state(run.id, "finished", now=now - 2 * 86400)
    gpus, seconds = 8, n // 8
    start = now - 2 * 86400 - seconds
    rows = [(run.id, f"GPU-{g}", g, start + s + random.random() * 0.01, random.random() * 100,
             30000.0 + g, 81559.0, 300.0 + random.random(), 60.0)
            for s in range(seconds) for g in range(gpus)]
    with reg._write() as conn:  # setup only: the supervisor writes these a few at a time
        reg._bulk_insert(conn, T_GPU, GPU_FIELDS, rows)
    reg.close()  # the last connection checkpoints the WAL: the copy is complete
    base_path = db_path.with_name("compact-baseline.db")
    shutil.copyfile(db_path, base_path)

    con = sqlite3.connect(base_path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    t = time.perf_counter()
    con.execute("BEGIN IMMEDIATE")
    deleted = con.execute("DELETE FROM gpu_samples WHERE run_id = ? AND time < ?",
                          (run.id, now - 86400)).rowcount
    con.execute("COMMIT")
    base_s = time.perf_counter() - t
    con.close()

    reg = open_registry(url)
    t = time.perf_counter()
    stats = retention.compact_all(reg, now=now)
    cand_s = time.perf_counter() - t
    assert stats.removed == deleted == len(rows), (stats, deleted)
    t = time.perf_counter()
    again = retention.compact_all(reg, now=now)
    again_s = time.perf_counter() - t
    assert again.removed == 0
    retention.maybe_compact(reg, now=now)  # claims and records the pass: the next one is an hour away
    best = float("inf")
    for _ in range(20):
        t = time.perf_counter()
        assert retention.maybe_compact(reg, now=now + 1) is None
        best = min(best, time.perf_counter() - t)
    reg.close()
    return {"samples": len(rows), "rows_after": stats.written, "baseline_s": base_s, "candidate_s": cand_s,
            "baseline_samples_s": len(rows) / base_s, "candidate_samples_s": len(rows) / cand_s,
            "again_s": again_s, "not_due_check_s": best}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--series", type=int, default=1_000_000)
    ap.add_argument("--samples", type=int, default=1_000_000)
    args = ap.parse_args()
    random.seed(0)
    with tempfile.TemporaryDirectory(prefix="clpbert-bench-") as tmp:
        results = {}
        for key, fn in (("ingest", lambda p: bench_ingest(f"sqlite:///{p}", p, args.points, args.batch)),
                        ("list", lambda p: bench_list(f"sqlite:///{p}", args.runs)),
                        ("downsample", lambda p: bench_downsample(f"sqlite:///{p}", args.series)),
                        ("compact", lambda p: bench_compact(p, args.samples))):
            path = Path(tmp) / f"{key}.db"
            results[key] = fn(path)
    i, li, d, c = results["ingest"], results["list"], results["downsample"], results["compact"]
    print(f"ingest  baseline raw sqlite3 {i['baseline_pts_s']:>10,.0f} pts/s   "
          f"candidate add_metrics {i['candidate_pts_s']:>10,.0f} pts/s   "
          f"ratio {i['ratio']:.2f} (target >= 100k pts/s)")
    print(f"list    {li['runs']} runs: all {li['all']['s']:.3f} s (cpu {li['all']['cpu_s']:.3f} s), "
          f"page of 50 {li['page50']['s'] * 1000:.1f} ms, search {li['search']['s'] * 1000:.1f} ms, "
          f"count {li['count_s'] * 1000:.1f} ms (target all <= 0.3 s)")
    print(f"series  {d['points']:,} points (ingested at {d['ingest_pts_s']:,.0f} pts/s): to "
          f"{d['series_1k_points']} points {d['series_1k_s']:.3f} s (cpu {d['series_1k_cpu_s']:.3f} s), "
          f"to {d['series_200_points']} points "
          f"{d['series_200_s']:.3f} s, 150k-step zoom {d['zoom_150k_s']:.3f} s (target <= 0.2 s)")
    print(f"compact {c['samples']:,} GPU samples: baseline plain DELETE {c['baseline_s']:.2f} s "
          f"({c['baseline_samples_s']:,.0f}/s)   candidate compact_all {c['candidate_s']:.2f} s "
          f"({c['candidate_samples_s']:,.0f}/s, {c['rows_after']:,} rows left)   ratio "
          f"{c['baseline_s'] / c['candidate_s']:.2f}; again {c['again_s'] * 1000:.1f} ms, not-due check "
          f"{c['not_due_check_s'] * 1000:.2f} ms (target >= 100k samples/s)")
    print(json.dumps({"bench": "registry", **results}))


def run(quick: bool = False) -> list[dict]:
    """Rows for `python -m benchmarks`: ingest against raw sqlite3; listing and downsampling times."""
    from benchmarks.harness import main_summary, row

    argv = (["--points", "20000", "--runs", "1000", "--series", "100000", "--samples", "100000"] if quick
            else [])
    s = main_summary(main, argv, via_sys_argv=True)
    i, li, d, c = s["ingest"], s["list"], s["downsample"], s["compact"]
    return [row("registry", f"metric ingest {i['points']:,} pts: add_metrics vs raw sqlite3", "points/s",
                i["baseline_pts_s"], i["candidate_pts_s"], goal_value=100_000),
            row("registry", f"list_runs over {li['runs']:,} runs (all rows)", "s", None, li["all"]["s"],
                better="lower", goal_value=0.3),
            row("registry", f"metric_series of {d['points']:,} points to ~1000", "s", None,
                d["series_1k_s"], better="lower", goal_value=0.2),
            row("registry", f"compact {c['samples']:,} GPU samples to 1-min buckets: compact_all vs plain "
                "DELETE", "samples/s", c["baseline_samples_s"], c["candidate_samples_s"], goal_value=100_000,
                note=f"pass again {c['again_s'] * 1000:.0f} ms; not-due check "
                     f"{c['not_due_check_s'] * 1000:.2f} ms")]


if __name__ == "__main__":
    main()
