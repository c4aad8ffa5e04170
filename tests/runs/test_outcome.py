from __future__ import annotations

from pathlib import Path

from clpbert.runs.outcome import decide, log_reason

TORCHRUN_SIGKILL_TAIL = """\
torch.distributed.elastic.multiprocessing.errors.ChildFailedError:
============================================================
clpbert.train FAILED
------------------------------------------------------------
Root Cause (first observed failure):
[0]:
  time      : 2026-11-26_07:40:10
  host      : localhost
  rank      : 0 (local_rank: 0)
  exitcode  : -9 (pid: 29480)  (SIGKILL)
  error_file: <N/A>
  traceback : Signal 9 (SIGKILL) received by PID 29480
============================================================
"""


def test_normal_end_is_finished() -> None:
    o = decide(0, {"status": "finished", "step": 10, "reason": None}, None)
    assert (o.state, o.reason, o.exit_code, o.signal) == ("finished", None, 0, None)


def test_user_stop_and_kill_are_killed() -> None:
    assert decide(0, {"status": "stopped", "step": 7}, "stop").reason == \
        "stopped by user at step 7 (checkpoint written)"
    grace = decide(-9, None, "stop", killed_after_grace=30)
    assert grace.state == "killed" and "30 s grace" in grace.reason and grace.signal == 9
    assert decide(-9, None, "kill").reason == "killed by user (SIGKILL)"
    assert decide(None, None, "stop").reason == "stopped by user while queued"


def test_crashes_are_failed_with_the_best_reason(tmp_path: Path) -> None:
    log = tmp_path / "train.log"
    log.write_text(TORCHRUN_SIGKILL_TAIL)
    o = decide(1, None, None, log_path=log)
    assert o.state == "failed" and o.reason == "trainer worker rank 0 (pid 29480) was killed by SIGKILL"
    assert decide(1, {"status": "failed", "reason": "ValueError: bad batch"}, None, log_path=log).reason \
        == "ValueError: bad batch"
    assert decide(-9, None, None).reason.startswith("trainer (torchrun) was killed by SIGKILL")
    assert decide(0, None, None).reason == "trainer exited without a finish event"
    assert decide(0, {"status": "stopped", "reason": "SIGTERM"}, None).state == "killed"


def test_log_reason_picks_the_last_real_exception(tmp_path: Path) -> None:
    log = tmp_path / "train.log"
    log.write_text("Traceback (most recent call last):\n  File x\nRuntimeError: CUDA out of memory\n"
                   "torch.distributed.elastic.multiprocessing.errors.ChildFailedError: \n")
    assert log_reason(log) == "RuntimeError: CUDA out of memory"
    assert log_reason(tmp_path / "missing.log") is None
