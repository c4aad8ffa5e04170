"""GPU sample retention on real databases (SQLite, and PostgreSQL when configured): what is kept at
1 Hz, what becomes one row per minute with which values, what is deleted, and that passes are
idempotent, resumable and atomic per bucket."""

from __future__ import annotations

import math
import threading
from collections import Counter

import pytest
from sqlalchemy import select

from clpbert.registry import open_registry
from clpbert.registry import retention as ret
from clpbert.registry.models import GpuCompactionRow, MaintenanceRow

NOW = 1_750_000_000.0
DAY = 86400.0
P = ret.DEFAULT_POLICY
OLD = (P.cutoff(NOW) - 100) * 60.0  # a bucket edge well before the 24 h window


def ended_run(reg, state: str = "finished", ended: float = NOW - 3600):
    run = reg.create_run("finetune", "demo")
    reg.set_run_state(run.id, state, now=ended)
    return run.id


def rows(reg, uuid: str, run_id: str | None = None) -> list[tuple]:
    """Every sample of a GPU as (id, fields...), oldest first: ids included, so a rewrite shows."""
    return [(s.id, *s.to_dict().values()) for s in reg.gpu_series(uuid, run_id=run_id)]


def per_bucket(reg, uuid: str, run_id: str | None = None) -> Counter:
    return Counter(math.floor(s.time / 60.0) for s in reg.gpu_series(uuid, run_id=run_id))


def fill(reg, run_id: str | None, uuid: str, start: float, buckets: int, per: int) -> None:
    """`per` samples in each of `buckets` consecutive buckets from `start` (a bucket edge)."""
    reg.add_gpu_samples([{"run_id": run_id, "gpu_uuid": uuid, "gpu_index": 0, "util": float(i % 7),
                          "time": start + k * 60.0 + i * (59.0 / per)}
                         for k in range(buckets) for i in range(per)])


def test_old_samples_become_one_row_per_bucket_with_means_and_peaks(registry):
    rid = ended_run(registry)
    s = [  # GPU-a, bucket OLD: three readings, one of them without power
        {"time": OLD + 1, "util": 10.0, "mem_used": 1000.0, "power": 100.0, "temperature": 50.0},
        {"time": OLD + 20, "util": 20.0, "mem_used": 3000.0, "power": 200.0, "temperature": 70.0},
        {"time": OLD + 59.5, "util": 60.0, "mem_used": 2000.0, "power": None, "temperature": 60.0},
    ]
    registry.add_gpu_samples([{**x, "run_id": rid, "gpu_uuid": "GPU-a", "gpu_index": 3, "mem_total": 80e3}
                              for x in s])
    registry.add_gpu_samples([  # a lone reading in the next bucket; GPU-b without utilisation at all
        {"run_id": rid, "gpu_uuid": "GPU-a", "gpu_index": 3, "time": OLD + 61, "util": 5.0},
        {"run_id": rid, "gpu_uuid": "GPU-b", "gpu_index": 4, "time": OLD + 2, "util": None, "mem_used": None},
        {"run_id": rid, "gpu_uuid": "GPU-b", "gpu_index": 4, "time": OLD + 3, "util": None, "mem_used": 5e2},
    ])
    recent = [{"run_id": rid, "gpu_uuid": "GPU-a", "gpu_index": 3, "time": t, "util": 1.0}
              for t in (NOW - DAY + 120, NOW - DAY + 120.5, NOW - 10, NOW - 9)]
    registry.add_gpu_samples(recent)
    lone = rows(registry, "GPU-a")[3]
    kept = rows(registry, "GPU-a")[4:]

    stats = ret.compact_run(registry, rid, now=NOW)

    assert (stats.removed, stats.written) == (5, 2)
    a = registry.gpu_series("GPU-a", run_id=rid)
    assert len(a) == 1 + 1 + 4
    bucket = a[0]
    assert bucket.time == OLD + 59.5  # the bucket's last timestamp
    assert bucket.util == pytest.approx(30.0)  # mean
    assert bucket.mem_used == 3000.0  # peak
    assert bucket.power == pytest.approx(150.0)  # mean of the readings that have one
    assert bucket.temperature == 70.0  # peak
    assert (bucket.mem_total, bucket.gpu_index, bucket.run_id) == (80e3, 3, rid)
    assert rows(registry, "GPU-a")[1] == lone  # a lone reading is already its bucket: untouched
    assert rows(registry, "GPU-a")[2:] == kept  # the last 24 h keep every reading, same rows
    (b,) = registry.gpu_series("GPU-b")
    assert (b.time, b.util, b.mem_used, b.gpu_index) == (OLD + 3, None, 500.0, 4)


def test_compaction_is_idempotent(registry):
    rid = ended_run(registry)
    fill(registry, rid, "GPU-a", OLD, buckets=5, per=4)
    fill(registry, None, "GPU-n", OLD, buckets=3, per=3)
    first = ret.compact_all(registry, now=NOW)
    assert (first.removed, first.written) == (5 * 4 + 3 * 3, 5 + 3)
    before = rows(registry, "GPU-a"), rows(registry, "GPU-n")

    again = [ret.compact_run(registry, rid, now=NOW), ret.compact_all(registry, now=NOW),
             ret.compact_all(registry, now=NOW + 600)]

    assert [(s.removed, s.written, s.expired) for s in again] == [(0, 0, 0)] * 3
    assert (rows(registry, "GPU-a"), rows(registry, "GPU-n")) == before


def mark_of(reg, run_id: str) -> float | None:
    with reg._read() as conn:
        return conn.execute(select(GpuCompactionRow.__table__.c.compacted_until)
                            .where(GpuCompactionRow.__table__.c.run_id == run_id)).scalar()


def test_an_active_run_is_compacted_behind_its_full_resolution_window(registry):
    """A running run writing 1 Hz samples (here 3 a minute) for a day and 100 minutes: what is older
    than 24 h becomes one row per minute while it runs, the rest keeps every row; a second pass
    changes nothing; what the supervisor appends later is compacted by a later pass."""
    rid = ended_run(registry, "running")
    cutoff = P.cutoff(NOW)
    per = 3
    minutes = P.bucket(NOW) - int(OLD / 60)  # OLD up to NOW's minute
    fill(registry, rid, "GPU-r", OLD, buckets=minutes, per=per)
    fill(registry, rid, "GPU-s", OLD, buckets=minutes, per=per)  # a second GPU
    registry.add_gpu_samples([{"run_id": rid, "gpu_uuid": "GPU-r", "time": NOW - 1, "util": 1.0}])
    recent = [r for r in rows(registry, "GPU-r") if r[2] >= cutoff * 60.0]
    full = {uuid: per_bucket(registry, uuid) for uuid in ("GPU-r", "GPU-s")}

    stats = ret.compact_all(registry, now=NOW)

    assert (stats.removed, stats.written) == (2 * 100 * per, 2 * 100)
    for uuid in ("GPU-r", "GPU-s"):
        counts = per_bucket(registry, uuid)
        assert {k: n for k, n in counts.items() if k < cutoff} == {OLD / 60 + k: 1 for k in range(100)}
        assert {k: n for k, n in counts.items() if k >= cutoff} == \
            {k: n for k, n in full[uuid].items() if k >= cutoff}  # never a split minute
    assert [r for r in rows(registry, "GPU-r") if r[2] >= cutoff * 60.0] == recent  # the same rows
    assert mark_of(registry, rid) == cutoff * 60.0
    before = rows(registry, "GPU-r"), rows(registry, "GPU-s")

    again = [ret.compact_all(registry, now=NOW), ret.compact_run(registry, rid, now=NOW)]

    assert [(s.removed, s.written, s.slices) for s in again] == [(0, 0, 0)] * 2
    assert (rows(registry, "GPU-r"), rows(registry, "GPU-s")) == before

    # two hours later: the supervisor kept appending; the minutes now older than 24 h get compacted
    later = NOW + 7200
    fill(registry, rid, "GPU-r", P.bucket(NOW) * 60.0 + 60, buckets=120, per=per)
    registry.add_gpu_samples([{"run_id": rid, "gpu_uuid": "GPU-r", "time": later - 1, "util": 1.0}])
    late = P.cutoff(later)
    assert late == cutoff + 120
    kept = [r for r in rows(registry, "GPU-r") if r[2] >= late * 60.0]
    full = {uuid: per_bucket(registry, uuid) for uuid in ("GPU-r", "GPU-s")}

    stats = ret.compact_all(registry, now=later)

    assert stats.written == 2 * 120 and stats.removed >= 2 * 120 * per
    for uuid in ("GPU-r", "GPU-s"):
        counts = per_bucket(registry, uuid)
        assert {n for k, n in counts.items() if k < late} == {1}
        assert {k: n for k, n in counts.items() if k >= late} == \
            {k: n for k, n in full[uuid].items() if k >= late}
    assert rows(registry, "GPU-r")[:100] == before[0][:100]  # the first pass's buckets: not rewritten
    assert [r for r in rows(registry, "GPU-r") if r[2] >= late * 60.0] == kept
    assert mark_of(registry, rid) == late * 60.0


def test_an_active_run_keeps_a_day_before_its_newest_sample_whatever_now_says(registry):
    """The minute a supervisor writes to is never compacted, even when the compactor's clock (or the
    `now` it is given) is days ahead of the supervisor's: an active run's window also ends 24 h
    before its newest sample. Once the run has ended, its newest samples are no one's to write."""
    rid = ended_run(registry, "running")
    newest = OLD + 3 * DAY + 30.0
    start = OLD + 2 * DAY - 3600.0
    fill(registry, rid, "GPU-r", start, buckets=25 * 60, per=2)  # 25 h up to the newest sample
    registry.add_gpu_samples([{"run_id": rid, "gpu_uuid": "GPU-r", "time": newest, "util": 1.0}])
    end = P.bucket(newest - P.recent_s)
    assert end < P.cutoff(NOW + 10 * DAY)
    kept = [r for r in rows(registry, "GPU-r") if r[2] >= end * 60.0]

    stats = ret.compact_run(registry, rid, ret.RetentionPolicy(batch_buckets=7), now=NOW + 10 * DAY)

    assert stats.written == end - P.bucket(start)
    assert {n for k, n in per_bucket(registry, "GPU-r").items() if k < end} == {1}
    assert [r for r in rows(registry, "GPU-r") if r[2] >= end * 60.0] == kept
    assert mark_of(registry, rid) == end * 60.0
    assert ret.compact_all(registry, now=NOW + 10 * DAY).removed == 0  # the same bound in a pass

    registry.set_run_state(rid, "finished", now=NOW + 10 * DAY)
    assert ret.compact_all(registry, now=NOW + 10 * DAY + 60).written == 25 * 60 - stats.written
    assert set(per_bucket(registry, "GPU-r").values()) == {1}


def test_a_resumed_run_goes_on_from_its_mark(registry):
    rid = ended_run(registry, "killed", ended=NOW - 3 * DAY)
    fill(registry, rid, "GPU-a", OLD - 2 * DAY, buckets=3, per=3)
    ret.compact_all(registry, now=NOW)
    compacted = rows(registry, "GPU-a")
    assert len(compacted) == 3
    registry.set_run_state(rid, "running", now=NOW)  # resumed: its new samples are its newest ones,
    fill(registry, rid, "GPU-a", P.bucket(NOW) * 60.0 + 600, buckets=2, per=4)
    later = NOW + 2 * DAY
    assert ret.compact_all(registry, now=later).removed == 0  # so untouched while it runs
    registry.set_run_state(rid, "finished", now=later + 60)

    stats = ret.compact_all(registry, now=later + 120)

    assert (stats.removed, stats.written) == (8, 2)
    assert rows(registry, "GPU-a")[:3] == compacted  # the first attempt's buckets are not rewritten
    assert len(registry.gpu_series("GPU-a")) == 5


def test_runless_samples_expire_after_the_horizon_run_samples_stay(registry):
    rid = ended_run(registry, ended=NOW - 40 * DAY)
    month = P.horizon(NOW) * 60.0
    fill(registry, None, "GPU-x", month - 600, buckets=3, per=2)  # run-less, older than 30 days
    fill(registry, None, "GPU-x", month + 600, buckets=2, per=3)  # run-less, younger: compacted
    fill(registry, rid, "GPU-x", month - 10 * DAY, buckets=2, per=2)  # a run's: compacted, kept

    stats = ret.compact_all(registry, now=NOW)

    assert stats.expired == 6
    assert per_bucket(registry, "GPU-x", run_id=rid) == {(month - 10 * DAY) / 60 + k: 1 for k in range(2)}
    left = [s for s in registry.gpu_series("GPU-x") if s.run_id is None]
    assert [math.floor(s.time / 60) for s in left] == [month / 60 + 10, month / 60 + 11]


def test_slices_never_split_a_bucket(registry):
    """Samples a float rounding away from a bucket edge, slices one bucket wide: still exactly one
    row per bucket, with the same values as slices fifty buckets wide."""
    edges = [OLD + k * 60.0 for k in range(1, 6)]
    times = [t for e in edges for t in (math.nextafter(e, -math.inf), e, math.nextafter(e, math.inf), e + 30)]
    narrow, wide = ended_run(registry), ended_run(registry)
    for rid, uuid in ((narrow, "GPU-n"), (wide, "GPU-w")):
        registry.add_gpu_samples([{"run_id": rid, "gpu_uuid": uuid, "time": t, "util": float(i)}
                                  for i, t in enumerate(times)])
    ret.compact_run(registry, narrow, ret.RetentionPolicy(batch_buckets=1), now=NOW)
    ret.compact_run(registry, wide, ret.RetentionPolicy(batch_buckets=50), now=NOW)

    expected = Counter(math.floor(t / 60.0) for t in times)
    assert per_bucket(registry, "GPU-n") == {k: 1 for k in expected}
    assert [(s.time, s.util) for s in registry.gpu_series("GPU-n")] == \
        [(s.time, s.util) for s in registry.gpu_series("GPU-w")]


def test_maybe_compact_is_rate_limited_and_resumes_a_budgeted_pass(registry):
    rid = ended_run(registry)
    fill(registry, rid, "GPU-a", OLD, buckets=40, per=3)
    policy = ret.RetentionPolicy(batch_buckets=5)

    first = ret.maybe_compact(registry, policy, now=NOW, budget_s=0.0)  # out of time after one slice
    assert first is not None and not first.complete and (first.slices, first.written) == (1, 5)
    assert ret.maybe_compact(registry, policy, now=NOW + 1, budget_s=0.0) is None  # retried in a minute
    passes, t = [first], NOW
    while not passes[-1].complete:
        t += policy.retry_s + 1
        stats = ret.maybe_compact(registry, policy, now=t, budget_s=0.0)
        assert stats is not None and stats.slices == 1
        passes.append(stats)
    # each pass went on where the last stopped: no bucket was read twice
    assert sum(p.written for p in passes) == 40 and sum(p.removed for p in passes) == 120
    assert len(passes) == 8
    assert per_bucket(registry, "GPU-a") == {OLD / 60 + k: 1 for k in range(40)}
    assert ret.maybe_compact(registry, policy, now=t + 60) is None  # complete: the next one in an hour
    assert ret.maybe_compact(registry, policy, now=t + policy.interval_s - 1) is None
    assert ret.maybe_compact(registry, policy, now=t + policy.interval_s).removed == 0


def test_a_claimed_pass_is_not_run_twice(registry):
    ended_run(registry)
    with registry._write() as conn:  # another process claimed a pass at NOW and is still at it (or died)
        conn.execute(MaintenanceRow.__table__.insert().values(name=ret.TASK, next_at=NOW + P.lease_s))
    assert ret.maybe_compact(registry, now=NOW + 10) is None
    assert ret.maybe_compact(registry, now=NOW + P.lease_s) is not None  # the lease ran out


def test_ended_runs_without_old_samples_are_marked_in_one_transaction(registry):
    for _ in range(30):
        ended_run(registry, ended=NOW - 10 * DAY)
    stats = ret.compact_all(registry, now=NOW)
    assert stats.runs == 0 and stats.slices == 0 and stats.transactions <= 3  # + the two bookmarks
    with registry._read() as conn:
        marks = conn.execute(select(GpuCompactionRow.__table__.c.compacted_until)).scalars().all()
    assert marks == [P.cutoff(NOW) * 60.0] * 30


def test_deleting_a_run_deletes_its_samples_and_its_mark(registry):
    rid = ended_run(registry)
    fill(registry, rid, "GPU-a", OLD, buckets=2, per=3)
    fill(registry, rid, "GPU-a", NOW - 100, buckets=1, per=3)
    ret.compact_run(registry, rid, now=NOW)
    registry.delete_run(rid)
    assert registry.gpu_series("GPU-a") == []
    with registry._read() as conn:
        assert conn.execute(select(GpuCompactionRow.__table__)).all() == []


def test_readers_never_see_a_half_compacted_bucket(registry, registry_url):
    rid = ended_run(registry)
    per = 30
    fill(registry, rid, "GPU-a", OLD, buckets=90, per=per)
    seen: list[set[int]] = []
    done = threading.Event()

    def read() -> None:
        with open_registry(registry_url) as reader:
            while not done.is_set():
                seen.append(set(per_bucket(reader, "GPU-a").values()))

    thread = threading.Thread(target=read)
    thread.start()
    try:
        ret.compact_run(registry, rid, ret.RetentionPolicy(batch_buckets=1), now=NOW)
    finally:
        done.set()
        thread.join()
    assert seen and all(counts <= {1, per} for counts in seen)
    assert set(per_bucket(registry, "GPU-a").values()) == {1}


def test_policy_rejects_nonsense():
    with pytest.raises(ValueError):
        ret.RetentionPolicy(bucket_s=0)
    with pytest.raises(ValueError):
        ret.RetentionPolicy(recent_s=40 * DAY)  # longer than the run-less horizon
