"""Slurm runs have no local supervisor: their registry rows follow RUN_DIR/events.jsonl instead.

A Slurm job's trainer (global rank 0) appends events.jsonl in the run dir on the shared file
system, exactly as under a supervisor. Every reconcile (each CLI/TUI start that touches runs, an
open TUI every 30 s, `runs show`, `runs logs`) ingests what is new for the active Slurm runs,
moves a run to `running` once its trainer has started, and to its final state once the trainer's
`finish` event is there (decided as a supervisor would: `stopped` by scancel's SIGTERM is `killed`).

A job that ended without a finish event (cancelled before the trainer started, a node failure, a
hard time limit) is marked `lost` when `squeue` no longer lists it. On a host without Slurm's tools
the run simply waits for its events. One process ingests a run at a time (a lock file in the run
dir, taken without waiting), so two CLI calls never write a run's rows twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clpbert.errors import NotFoundError
from clpbert.runs.ingest import EVENTS_FILE, Ingestor
from clpbert.runs.launch import is_slurm_run, slurm_job_id
from clpbert.runs.lifecycle import ACTIVE, RunState, sources_of
from clpbert.runs.outcome import from_finish
from clpbert.runs.run_dir import LOCK_FILE, RunDir

if TYPE_CHECKING:
    from clpbert.registry import Registry

TAIL_BYTES = 64 * 1024
SQUEUE_TIMEOUT_S = 10.0


def slurm_log(run: Any) -> Path | None:
    """The job's output file (sbatch --output=RUN_DIR/logs/slurm-%j.out): the submitted job's, else the
    newest one there (a script submitted by hand); None before the job has written one."""
    rd = RunDir(run.run_dir)
    job = slurm_job_id(run)
    if job:
        path = rd.slurm_log(job)
        return path if path.exists() else None
    found = sorted(rd.logs.glob(rd.slurm_log("*").name), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def parse_squeue(returncode: int, stdout: str, stderr: str, jobs: list[str]) -> dict[str, bool | None]:
    """From `squeue -h -j A,B -o "%i %T"`: per job, True when still listed (pending, running,
    completing), False when Slurm no longer lists it, None when the answer is unclear.

    Array and heterogeneous job lines (`123_4`, `123+1`) count for their job. An unknown id makes
    squeue fail as a whole ("Invalid job id"): that says "gone" for a single job only.
    """
    if returncode == 0:
        seen = {line.split()[0].split("_")[0].split("+")[0] for line in stdout.splitlines() if line.strip()}
        return {j: j in seen for j in jobs}
    if len(jobs) == 1 and "invalid job id" in stderr.lower():
        return {jobs[0]: False}
    return dict.fromkeys(jobs)


def _squeue(squeue: str, jobs: list[str]) -> dict[str, bool | None]:
    try:
        res = subprocess.run([squeue, "-h", "-j", ",".join(jobs), "-o", "%i %T"], capture_output=True,
                             text=True, timeout=SQUEUE_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired):
        return dict.fromkeys(jobs)
    return parse_squeue(res.returncode, res.stdout, res.stderr, jobs)


def jobs_listed(jobs: list[str]) -> dict[str, bool | None]:
    """Whether squeue still lists each job, in one call (per job only when one id is unknown to
    Slurm, which fails the whole call); None for all without squeue on this host."""
    squeue = shutil.which("squeue")
    if squeue is None or not jobs:
        return dict.fromkeys(jobs)
    answers = _squeue(squeue, jobs)
    if len(jobs) > 1 and all(v is None for v in answers.values()):
        answers = {j: _squeue(squeue, [j])[j] for j in jobs}
    return answers


def job_listed(job: str) -> bool | None:
    return jobs_listed([job])[job]


def last_event(path: Path) -> dict[str, Any] | None:
    """The last complete JSON line of events.jsonl (a torn last line is not an event yet)."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - TAIL_BYTES))
            chunk = f.read()
    except OSError:
        return None
    for line in reversed(chunk[:chunk.rfind(b"\n") + 1].splitlines()):
        if line.strip():
            with contextlib.suppress(ValueError):
                ev = json.loads(line)
                return ev if isinstance(ev, dict) else None
            return None
    return None


@contextlib.contextmanager
def _ingest_lock(run_dir: Path) -> Iterator[bool]:
    """True when this process may ingest the run now (nobody else is); never waits."""
    try:
        fd = os.open(run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def _config_facts(run: Any) -> tuple[str | None, str]:
    """(selection metric, kind) from the run's resolved config, as the supervisor reads them."""
    cfg = run.config or {}
    metric = (cfg.get("eval") or {}).get("metric") or None
    return metric, cfg.get("kind") or run.kind


def sync_slurm_run(reg: Registry, run: Any, listed_by: Callable[[str], bool | None] = job_listed,
                   deadline: float | None = None) -> str | None:
    """Ingest one active Slurm run's new events and move its state on; the new state, if it changed.

    `listed_by(job id)` says whether Slurm still lists the job (default: ask squeue). Past
    `deadline` (time.monotonic) ingestion stops after the current batch; the final state waits until
    every event is in, so a run never ends with part of its history missing.
    """
    if str(run.state) not in ACTIVE or not is_slurm_run(run) or not run.run_dir:
        return None
    run_dir = Path(run.run_dir)
    job = slurm_job_id(run)
    listed = listed_by(job) if job else None  # asked before reading, so a gone job's events are all in
    events = run_dir / EVENTS_FILE
    with _ingest_lock(run_dir) as mine:
        if not mine:
            return None
        metric, kind = _config_facts(run)
        ingestor = Ingestor(reg, run.id, run_dir, metric=metric, kind=kind)
        drained = ingestor.drain(deadline)
        state = str(run.state)
        started = ingestor.summary.started or (events.exists() and events.stat().st_size > 0)
        reason = f"Slurm job {job}" if job else None
        if (state in sources_of(RunState.RUNNING) and started
                and reg.set_run_state(run.id, RunState.RUNNING, reason=reason,
                                      only_from=sources_of(RunState.RUNNING))):
            state = RunState.RUNNING
        if not drained:  # the next reconcile reads on: no final state before the whole history is in
            return state if state != str(run.state) else None
        finish = last_event(events)
        if finish is not None and finish.get("event") == "finish":
            outcome = from_finish(finish, log_path=RunDir(run_dir).train_log)
            if reg.set_run_state(run.id, outcome.state, reason=outcome.reason, only_from=ACTIVE):
                return outcome.state
        elif listed is False:
            why = (f"Slurm job {job} is no longer queued or running and its trainer wrote no finish event"
                   f" (see {RunDir(run_dir).slurm_log(job)})")
            if reg.set_run_state(run.id, RunState.LOST, reason=why, only_from=ACTIVE):
                return RunState.LOST
    return state if state != str(run.state) else None


def sync_slurm_runs(reg: Registry, active: list[Any] | None = None, budget_s: float = 1.0) -> dict[str, str]:
    """sync_slurm_run over every active Slurm run, within about budget_s; run id -> new state.

    `active`: the active runs, configs included, when the caller has listed them already.
    """
    deadline = time.monotonic() + budget_s
    if active is None:
        active = reg.list_runs(state=list(ACTIVE), with_config=True)
    runs = [r for r in active if is_slurm_run(r)]
    if not runs:
        return {}
    listed = jobs_listed([j for r in runs if (j := slurm_job_id(r))])  # one squeue call for all
    changed: dict[str, str] = {}
    for run in runs:
        if time.monotonic() > deadline:
            break  # the next reconcile goes on
        with contextlib.suppress(NotFoundError):
            new = sync_slurm_run(reg, run, listed_by=listed.get, deadline=deadline)
            if new:
                changed[run.id] = new
    return changed
