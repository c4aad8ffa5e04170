"""GPU sample retention: full 1 Hz resolution while samples are recent, one row per minute after,
run-less samples dropped after a month. Without it the supervisors' 1 Hz NVML samples grow the
registry by ~700k rows per busy 8-GPU day, forever, and every GPU view slows down with it.

Policy (`RetentionPolicy`, defaults in parentheses):
- samples newer than `recent_s` (24 h) are never touched;
- older ones are compacted, those of runs that are still active (queued/starting/running/
  stopping) included: a week-long 8-GPU run would otherwise hold ~4.8M 1 Hz rows until it ends.
  That is safe because a run's supervisor only appends samples with the current time, so a bucket
  wholly older than the window gets no more samples. For an active run the window is also
  measured back from its newest sample (the supervisor's own clock, not the compactor's): a slice
  ends at least `recent_s` before both `now` and that sample, so the minute being written to is
  never compacted, whatever the clock skew between machines or the `now` a caller passes;
- they are compacted per (run, GPU uuid) into `bucket_s` (60 s) buckets aligned to the
  epoch: one row with the mean utilisation and power, the peak memory used and temperature, and
  the bucket's last timestamp. Means rather than one kept sample per bucket: at 1 Hz utilisation
  swings between 0 and 100 % with the data loader, so a thinned chart shows aliasing noise where
  a mean shows the duty cycle (and mean power x time stays the energy); peaks for memory and
  temperature because those charts answer "how close to OOM / to throttling";
- samples without a run older than `runless_horizon_s` (30 days) are deleted. A run's samples
  live as long as its row: `clpbert runs rm` deletes them (foreign-key cascade).

Guarantees: the unit of work is a bucket-aligned slice (`batch_buckets` buckets) of one run's (or
the run-less) samples, one transaction each, so no reader ever sees a half-compacted bucket. Each
slice re-checks inside its transaction, under the compactors' lock, where it may end: nowhere if
the run is gone, before the pass's cutoff if it has ended, and, if it is active (it may have been
resumed since the pass looked), also `recent_s` before its newest sample. A compacted bucket is one row,
which compaction leaves alone, so running it again changes nothing. Slices are selected by bucket
number (the same expression the GROUP BY uses), never by a float time bound, so a sample a
rounding error away from a bucket edge cannot be split across two slices. Compactors are
serialised per slice (SQLite: BEGIN IMMEDIATE; PostgreSQL: a transaction advisory lock).

Progress is stored, so a pass never re-reads compacted samples and a pass cut short by its time
budget goes on where it stopped: `gpu_compaction.compacted_until` per run (advanced in the same
transaction as each slice), and the `watermark` of the `maintenance` row "gpu_samples" for the
samples without a run. An active run's mark follows its window forward pass after pass; a run is
done once compacted past its `ended`; a resumed run goes on from its mark. The row's `pass_cutoff`
(the cutoff of the last complete pass) lets the next pass look only at the active runs and those
that ended after it, through the indexes on `runs.ended` and `runs.state`: O(active runs + runs
ended in the last day), not O(runs).

When (the callers decide; `Registry` does not know this module):
- `compact_run(reg, run_id)`: the supervisor, once the run's final state is recorded (any caller
  may also use it on an active run);
- `maybe_compact(reg, budget_s=...)`: the whole registry at most once per `interval_s` (the
  `maintenance` row's `next_at` is the rate limit and, moved forward by a compare-and-set, the
  claim), from the supervisor's end (no budget: nobody waits for it) and from reconcile at CLI/TUI
  start (a small time budget; an unfinished pass goes on `retry_s` later).
"""

from __future__ import annotations

import math
import time as _time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, case, exists, func, literal, or_, select, text, update

from clpbert.registry.models import GpuCompactionRow, GpuSampleRow, MaintenanceRow, RunRow
from clpbert.runs.lifecycle import ACTIVE_STATES, TERMINAL_STATES

if TYPE_CHECKING:
    from clpbert.registry.queries import Registry

T_RUNS = RunRow.__table__
T_GPU = GpuSampleRow.__table__
T_MARKS = GpuCompactionRow.__table__
T_MAINT = MaintenanceRow.__table__
TASK = "gpu_samples"
"""The `maintenance` row of this chore."""
PG_LOCK_KEY = 0x636C7067  # "clpg": the transaction advisory lock compactors take on PostgreSQL
_ACTIVE = frozenset(str(s) for s in ACTIVE_STATES)
_TERMINAL = sorted(str(s) for s in TERMINAL_STATES)
_NO_LOWER = -(2 ** 40)  # a bucket number below any real time
_COLUMNS = "run_id, gpu_uuid, gpu_index, time, util, mem_used, mem_total, power, temperature"
_AGGREGATES = ("run_id, gpu_uuid, MAX(gpu_index), MAX(time), AVG(util), MAX(mem_used), MAX(mem_total), "
               "AVG(power), MAX(temperature)")


@dataclass(frozen=True)
class RetentionPolicy:
    """How long samples keep full resolution, how coarse they get after, when run-less ones go."""

    recent_s: float = 24 * 3600.0
    """Samples newer than this keep every 1 Hz reading."""
    bucket_s: float = 60.0
    """Older samples become one row per bucket of this many seconds (per run and GPU)."""
    runless_horizon_s: float = 30 * 24 * 3600.0
    """Samples with no run older than this are deleted."""
    interval_s: float = 3600.0
    """maybe_compact runs a pass at most this often."""
    retry_s: float = 60.0
    """A pass stopped by its time budget goes on after this long."""
    lease_s: float = 900.0
    """A claimed pass whose process died is taken over after this long."""
    batch_buckets: int = 30
    """Buckets per transaction (30 min of samples: ~14k rows for 8 GPUs)."""

    def __post_init__(self) -> None:
        if not self.bucket_s > 0 or self.batch_buckets < 1:
            raise ValueError(f"bucket_s must be > 0 and batch_buckets >= 1: {self}")
        if not 0 <= self.recent_s <= self.runless_horizon_s:
            raise ValueError(f"need 0 <= recent_s <= runless_horizon_s: {self}")

    def bucket(self, t: float) -> int:
        """The bucket number of time t (what the SQL computes: floor(t / bucket_s))."""
        return math.floor(t / self.bucket_s)

    def cutoff(self, now: float) -> int:
        """First bucket that is still recent: buckets before it get compacted."""
        return self.bucket(now - self.recent_s)

    def horizon(self, now: float) -> int:
        """First bucket of run-less samples that is kept."""
        return self.bucket(now - self.runless_horizon_s)


DEFAULT_POLICY = RetentionPolicy()


@dataclass
class CompactionStats:
    """What a call did. `complete` is False when its time budget ran out first."""

    removed: int = 0
    """1 Hz rows replaced by bucket rows."""
    written: int = 0
    """Bucket rows written."""
    expired: int = 0
    """Run-less rows deleted past the horizon."""
    runs: int = 0
    """Runs whose samples were read."""
    slices: int = 0
    """Slices compacted or expired (one transaction each)."""
    transactions: int = 0
    """Write transactions, bookkeeping included."""
    complete: bool = True
    seconds: float = 0.0


def _statements(backend: str, runless: bool) -> dict[str, Any]:
    """The slice statements for one dialect; `:b` bucket seconds, `[:ka, :kz)` bucket numbers,
    `[:ta, :tz)` a time range one bucket wider (lets the (run_id, time) index find the rows)."""
    key = "CAST(time / :b AS INTEGER)" if backend == "sqlite" else "FLOOR(time / :b)"
    who = "run_id IS NULL" if runless else "run_id = :r"
    where = f"{who} AND time >= :ta AND time < :tz AND {key} >= :ka AND {key} < :kz"
    return {
        "first": text(f"SELECT MIN(time) FROM gpu_samples WHERE {where}"),
        "insert": text(f"INSERT INTO gpu_samples ({_COLUMNS}) SELECT {_AGGREGATES} FROM gpu_samples "
                       f"WHERE {where} AND id <= :m GROUP BY run_id, gpu_uuid, {key} HAVING COUNT(*) > 1"),
        # the originals of exactly the buckets that just got a row (ids above :m are the new rows)
        "delete": text(f"DELETE FROM gpu_samples WHERE {where} AND id <= :m AND (gpu_uuid, {key}) IN "
                       f"(SELECT gpu_uuid, {key} FROM gpu_samples WHERE {where} AND id > :m)"),
        "expire": text(f"DELETE FROM gpu_samples WHERE {where}"),
    }


_CACHE: dict[tuple[str, bool], dict[str, Any]] = {}


def _sql(backend: str, runless: bool) -> dict[str, Any]:
    if (backend, runless) not in _CACHE:
        _CACHE[backend, runless] = _statements(backend, runless)
    return _CACHE[backend, runless]


def _window(policy: RetentionPolicy, run_id: str | None, ka: int, kz: int) -> dict[str, Any]:
    b = float(policy.bucket_s)
    params: dict[str, Any] = {"b": b, "ka": ka, "kz": kz, "ta": (ka - 1) * b, "tz": (kz + 1) * b}
    if run_id is not None:
        params["r"] = run_id
    return params


def _set_mark(reg: Registry, conn: Any, run_id: str | None, until: float) -> None:
    """Record that `run_id`'s (None: the run-less) samples are compacted before `until`; never
    moves a mark backwards."""
    if run_id is None:
        ins = reg._insert(T_MAINT).values(name=TASK, next_at=0.0, watermark=until)
        old, new = T_MAINT.c.watermark, ins.excluded.watermark
        conn.execute(ins.on_conflict_do_update(index_elements=[T_MAINT.c.name], set_={
            "watermark": case((or_(old.is_(None), old < new), new), else_=old)}))
        return
    conn.execute(_forward(reg._insert(T_MARKS).values(run_id=run_id, compacted_until=until)))


def _forward(ins: Any) -> Any:
    """An insert of run marks that, on an existing mark, keeps the later of the two."""
    old, new = T_MARKS.c.compacted_until, ins.excluded.compacted_until
    return ins.on_conflict_do_update(index_elements=[T_MARKS.c.run_id],
                                     set_={"compacted_until": case((old < new, new), else_=old)})


def _lock(reg: Registry, conn: Any) -> None:
    if reg.backend == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_LOCK_KEY})


def _end(reg: Registry, conn: Any, policy: RetentionPolicy, run_id: str | None, hi: int) -> int | None:
    """Lock out other compactors for this transaction and re-check the first bucket this
    transaction must not touch: None when the run is gone (its samples went with it); `hi` (the
    pass's cutoff) for the run-less samples and an ended run; for an active run (still running, or
    resumed since the pass looked) also the first bucket within `recent_s` of its newest sample.
    Its supervisor appends samples with the current time (its own clock), so every bucket before
    that one is complete and none is being written to."""
    _lock(reg, conn)
    if run_id is None:
        return hi
    state = conn.execute(select(T_RUNS.c.state).where(T_RUNS.c.id == run_id)).scalar()
    if state is None:
        return None
    if state not in _ACTIVE:
        return hi
    newest = conn.execute(select(func.max(T_GPU.c.time)).where(T_GPU.c.run_id == run_id)).scalar()
    return hi if newest is None else min(hi, policy.bucket(newest - policy.recent_s))


def _sweep(reg: Registry, stats: CompactionStats, policy: RetentionPolicy, run_id: str | None,
           lo: float | None, hi: int, deadline: float | None, expire: bool = False) -> str:
    """Compact (or, expire=True, delete) the samples of `run_id` (None: those without a run) from
    time `lo` (a bucket edge; None: the start) to bucket `hi` (for an active run: to where `_end`
    allows), one slice per transaction, moving the mark with each. Returns "done", "deadline" or
    "gone" (the run was deleted meanwhile)."""
    sql = _sql(reg.backend, run_id is None)
    klo = _NO_LOWER if lo is None else policy.bucket(lo)
    if hi <= klo:
        return "done"
    with reg._read() as conn:
        t = conn.execute(sql["first"], _window(policy, run_id, klo, hi)).scalar()
    if t is not None and not expire:
        stats.runs += run_id is not None
    while t is not None or not expire:
        if t is not None and _past(deadline, stats):
            return "deadline"
        with reg._write() as conn:
            stats.transactions += 1
            end = _end(reg, conn, policy, run_id, hi)
            if end is None:
                return "gone"
            ka = end if t is None else min(max(policy.bucket(t), klo), end)
            if ka >= end:  # nothing (more) to compact before the end: say so once
                if not expire and klo < end:
                    _set_mark(reg, conn, run_id, end * policy.bucket_s)
                return "done"
            kz = min(ka + policy.batch_buckets, end)
            window = _window(policy, run_id, ka, kz)
            stats.slices += 1
            if expire:
                stats.expired += conn.execute(sql["expire"], window).rowcount
            else:
                window["m"] = int(conn.execute(text("SELECT MAX(id) FROM gpu_samples")).scalar() or 0)
                written = conn.execute(sql["insert"], window).rowcount
                if written:
                    removed = conn.execute(sql["delete"], window).rowcount
                    if removed < 2 * written:  # every new row stands for >= 2 originals: roll back
                        raise RuntimeError(f"GPU sample compaction of run {run_id} buckets [{ka}, {kz}): "
                                           f"{written} bucket rows but {removed} originals removed")
                    stats.written += written
                    stats.removed += removed
                _set_mark(reg, conn, run_id, kz * policy.bucket_s)
            t = conn.execute(sql["first"], _window(policy, run_id, kz, end)).scalar() if kz < end else None
        klo = kz
        if kz >= end:  # the mark is at the end already
            return "done"
    return "done"


def _past(deadline: float | None, stats: CompactionStats) -> bool:
    """The budget is spent (only once a slice was done: every pass makes progress)."""
    return deadline is not None and stats.slices > 0 and _time.monotonic() > deadline


def _mark_of(reg: Registry, run_id: str) -> float | None:
    with reg._read() as conn:
        return conn.execute(select(T_MARKS.c.compacted_until).where(T_MARKS.c.run_id == run_id)).scalar()


def compact_run(reg: Registry, run_id: str, policy: RetentionPolicy = DEFAULT_POLICY, *,
                now: float | None = None) -> CompactionStats:
    """Compact the samples of one run older than `policy.recent_s` (from where the last call
    stopped); for an active run also only those `recent_s` older than its newest sample. The
    supervisor calls it once the final state is in."""
    started = _time.monotonic()
    now = _time.time() if now is None else float(now)
    stats = CompactionStats()
    _sweep(reg, stats, policy, run_id, _mark_of(reg, run_id), policy.cutoff(now), None)
    stats.seconds = _time.monotonic() - started
    return stats


def _pending(cutoff_t: float, since: float | None) -> Any:
    """Runs whose samples may not all be compacted before `cutoff_t`: active runs whose mark is
    before the cutoff (or that have none), and ended runs never compacted or whose mark is before
    both the cutoff and their end (a resumed run ends after its mark). With `since` (the cutoff of
    the last complete pass) only active runs and runs that ended after it, through the `ended` and
    `state` indexes: every run that ended before it was compacted past its end by that pass."""
    mark, ended, state = T_MARKS.c.compacted_until, T_RUNS.c.ended, T_RUNS.c.state
    behind = or_(mark.is_(None), mark < cutoff_t)
    active = and_(state.in_(sorted(_ACTIVE)), behind)
    ended_ = and_(state.in_(_TERMINAL),
                  or_(mark.is_(None), and_(mark < cutoff_t, or_(ended.is_(None), mark <= ended))))
    if since is None:
        return or_(active, ended_)
    # as a subquery: without statistics SQLite's planner would rather scan ix_runs_state (all the
    # ended runs). Active runs have no `ended` (set_run_state clears it); named too, to be sure
    recent = select(T_RUNS.c.id).where(or_(ended.is_(None), ended >= since, state.in_(sorted(_ACTIVE))))
    return and_(T_RUNS.c.id.in_(recent), or_(active, ended_))


def compact_all(reg: Registry, policy: RetentionPolicy = DEFAULT_POLICY, *, now: float | None = None,
                budget_s: float | None = None) -> CompactionStats:
    """One pass over the whole registry: delete run-less samples past the horizon, compact the
    run-less ones and those of every run (active ones up to their own window), each from its mark.
    With `budget_s`, stops at the first slice boundary past it (`complete` False; at least one slice
    is done); the next call goes on from there."""
    started = _time.monotonic()
    deadline = None if budget_s is None else started + budget_s
    now = _time.time() if now is None else float(now)
    cutoff = policy.cutoff(now)
    cutoff_t = cutoff * policy.bucket_s
    stats = CompactionStats()
    with reg._read() as conn:
        row = conn.execute(select(T_MAINT.c.watermark, T_MAINT.c.pass_cutoff)
                           .where(T_MAINT.c.name == TASK)).first()
    watermark, since = row if row is not None else (None, None)
    status = _sweep(reg, stats, policy, None, None, policy.horizon(now), deadline, expire=True)
    if status == "done":
        status = _sweep(reg, stats, policy, None, watermark, cutoff, deadline)
    if status == "done":
        joined = T_RUNS.outerjoin(T_MARKS, T_MARKS.c.run_id == T_RUNS.c.id)
        has_old = exists().where(T_GPU.c.run_id == T_RUNS.c.id, T_GPU.c.time < cutoff_t)
        with reg._read() as conn:
            found = conn.execute(select(T_RUNS.c.id, T_MARKS.c.compacted_until, has_old).select_from(joined)
                                 .where(_pending(cutoff_t, since)).order_by(T_RUNS.c.id)).all()
        empty = [r[0] for r in found if not r[2]]
        for i in range(0, len(empty), 500):  # the many ended runs with nothing to compact: marked at once
            with reg._write() as conn:
                _lock(reg, conn)
                conn.execute(_forward(reg._insert(T_MARKS).from_select(  # a run deleted meanwhile: skipped
                    ["run_id", "compacted_until"],
                    select(T_RUNS.c.id, literal(cutoff_t)).where(T_RUNS.c.id.in_(empty[i:i + 500])))))
            stats.transactions += 1
        runs = [(r[0], r[1]) for r in found if r[2]]
        for run_id, mark in runs:
            if _past(deadline, stats):
                status = "deadline"
                break
            status = _sweep(reg, stats, policy, run_id, mark, cutoff, deadline)
            if status == "deadline":
                break
            status = "done"  # "gone": that run was deleted meanwhile
    stats.complete = status != "deadline"
    if stats.complete and (since is None or since < cutoff_t):  # the next pass starts from here
        done = T_MAINT.c.pass_cutoff
        with reg._write() as conn:
            conn.execute(reg._insert(T_MAINT).values(name=TASK, next_at=0.0)
                         .on_conflict_do_nothing(index_elements=[T_MAINT.c.name]))
            conn.execute(update(T_MAINT).where(T_MAINT.c.name == TASK, or_(done.is_(None), done < cutoff_t))
                         .values(pass_cutoff=cutoff_t))
        stats.transactions += 1
    stats.seconds = _time.monotonic() - started
    return stats


def maybe_compact(reg: Registry, policy: RetentionPolicy = DEFAULT_POLICY, *, now: float | None = None,
                  budget_s: float | None = None) -> CompactionStats | None:
    """A `compact_all` pass if one is due (at most once per `policy.interval_s` per registry, never
    two at once); None when not due or another process holds it. Costs one indexed read when not
    due. A pass stopped by its budget is due again `policy.retry_s` later."""
    now = _time.time() if now is None else float(now)
    name = T_MAINT.c.name == TASK
    with reg._read() as conn:
        due_at = conn.execute(select(T_MAINT.c.next_at).where(name)).scalar()
    if due_at is not None and due_at > now:
        return None
    with reg._write() as conn:
        conn.execute(reg._insert(T_MAINT).values(name=TASK, next_at=0.0)
                     .on_conflict_do_nothing(index_elements=[T_MAINT.c.name]))
        claimed = conn.execute(update(T_MAINT).where(name, T_MAINT.c.next_at <= now)
                               .values(next_at=now + policy.lease_s)).rowcount
    if not claimed:
        return None
    stats = compact_all(reg, policy, now=now, budget_s=budget_s)
    next_at = now + (policy.interval_s if stats.complete else stats.seconds + policy.retry_s)
    with reg._write() as conn:
        conn.execute(update(T_MAINT).where(name).values(next_at=next_at))
    return stats
