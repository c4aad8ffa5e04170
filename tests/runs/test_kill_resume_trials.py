"""Seeded kill/resume trials with real processes (issue 17): the trainer or the supervisor of one
run is SIGKILLed at a random moment (checkpoint writes are slowed, so many kills land inside one)
and the run is resumed at once, 20 times. Never stuck, never two trainers of the run alive, no
temp file left, every checkpoint loads, the last step evaluated, the registry intact."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from clpbert.registry import open_registry
from clpbert.runs import procs
from clpbert.runs.attempt_guard import trainer_processes
from clpbert.runs.reconcile import reconcile
from clpbert.runs.service import FINAL, LaunchRequest, follow_run, launch_run, resume_run
from clpbert.train import checkpoint as ckpt

pytestmark = pytest.mark.slow
TRIALS = 20
STEPS = 120


def _attempts_alive(run_dir: Path, run_id: str) -> set[str]:
    """CLPBERT_ATTEMPT of every live process of the run's trainer."""
    out = set()
    for p in trainer_processes(run_dir, run_id):
        try:
            out.add(p.environ().get("CLPBERT_ATTEMPT", "?"))
        except Exception:
            continue
    return out


@pytest.mark.timeout(1800)  # 20 trainer starts: ~4 min on an idle 2-core machine, far more when it is busy
def test_twenty_seeded_kill_and_immediate_resume_trials(runs_home: Path, rt, monkeypatch):
    monkeypatch.setenv("CLPBERT_TEST_CKPT_SLEEP", "0.3")  # each save holds its temp files a while
    monkeypatch.setenv("CLPBERT_ATTEMPT_GRACE_S", "5")
    rng = random.Random(17)
    kills = {"trainer": 0, "supervisor": 0}
    with open_registry() as reg:
        run = launch_run(reg, LaunchRequest(kind="finetune", task="demo", dataset="demo", sets=[
            *rt.TINY, f"optim.max_steps={STEPS}", "runtime.checkpoint_every=2", "eval.valid_steps=1000"]))
        run_dir = Path(run.run_dir)
        last_step = -1
        for trial in range(TRIALS):
            # wait for training to move on in this attempt (a checkpoint exists from the first trial on)
            r = rt.wait_until(lambda since=last_step: (x := reg.get_run(run.id)).state in ("running", *FINAL)
                              and (x.step > since or x.state in FINAL) and x, 300,
                              f"trial {trial}: the run to train again")
            assert r.state == "running", (trial, r.state, r.reason)
            rt.wait_until(lambda: ckpt.latest_path(run_dir) is not None, 120, "a first checkpoint")
            assert len(_attempts_alive(run_dir, run.id)) <= 1
            time.sleep(rng.uniform(0.0, 1.5))
            r = reg.get_run(run.id)
            trainer = procs.recorded(run_dir, "trainer")
            victim = rng.choice(["trainer", "supervisor"])
            if victim == "trainer" and (trainer is None or not trainer.alive()):
                victim = "supervisor"
            pid = trainer.pid if victim == "trainer" else r.supervisor_pid
            if r.state in FINAL:
                break  # the run finished before this trial's kill
            os.kill(pid, signal.SIGKILL)
            kills[victim] += 1
            if victim == "supervisor":  # reconcile notices, ends the orphaned trainer, marks `lost`
                rt.wait_until(lambda: reconcile(reg) or reg.get_run(run.id).state in FINAL, 120,
                              "reconcile to mark the run lost")
            else:  # the supervisor records the trainer's death
                rt.wait_until(lambda: reg.get_run(run.id).state in FINAL, 120, "the run to fail")
            done = reg.get_run(run.id)
            if done.state == "finished":
                break
            assert done.state in ("failed", "lost"), (trial, victim, done.state, done.reason)
            last_step = done.step
            resumed = resume_run(reg, run.id)  # at once; it waits for every old process itself
            assert resumed.state == "queued"
            assert _attempts_alive(run_dir, run.id) <= {str(len(reg.list_attempts(run.id)) + 1)}
        assert sum(kills.values()) >= TRIALS and kills["trainer"] and kills["supervisor"], kills
        final = follow_run(reg, run.id, timeout_s=900)
        assert final.state == "finished", final.reason
        assert not trainer_processes(run_dir, run.id)

    ckdir = run_dir / ckpt.CKPT_DIR
    assert not [p.name for p in ckdir.iterdir() if ckpt.TEMP_RE.match(p.name)]
    for _, path in ckpt.list_step_checkpoints(run_dir):
        assert ckpt.load_file(path)["step"] > 0
    assert ckpt.load_file(ckdir / ckpt.BEST)["step"] == STEPS
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines() if line]
    assert any(e["event"] == "eval" and e["step"] == STEPS for e in events)
    starts = [e["step"] for e in events if e["event"] == "start"]
    assert starts == sorted(starts)  # every attempt resumed from a later (or the same) checkpoint
    with sqlite3.connect(runs_home / "registry.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
