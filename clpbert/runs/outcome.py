"""How a run ended: its final state and a one-line reason, from the facts the supervisor has.

Facts: torchrun's exit status, the trainer's last `finish` event, whether a user asked to stop
or kill, and the tail of logs/train.log (torchrun prints which worker died and how). A pure
function, so every branch is tested without processes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clpbert.runs.lifecycle import RunState, TrainerStatus
from clpbert.runs.procs import signal_name

_SIGNAL_LINE = re.compile(r"Signal (\d+) \((SIG\w+)\) received by PID (\d+)")
_RANK_LINE = re.compile(r"^\s*rank\s*:\s*(\d+)")
_EXC_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit)): ?(.*)$")
_IGNORED_EXC = ("ChildFailedError", "SignalException")


@dataclass(frozen=True)
class Outcome:
    state: str
    """finished | failed | killed."""
    reason: str | None
    exit_code: int | None = None
    signal: int | None = None


def log_reason(log_path: Path, max_bytes: int = 64 * 1024) -> str | None:
    """The most telling line at the end of the trainer log: a worker's fatal signal, else the
    last exception line that is not torchrun's own wrapper."""
    try:
        with log_path.open("rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return None
    lines = text.splitlines()
    rank = None
    for line in lines:
        m = _RANK_LINE.match(line)
        if m:
            rank = m.group(1)
    for line in reversed(lines):
        m = _SIGNAL_LINE.search(line)
        if m:
            who = f"trainer worker rank {rank}" if rank is not None else "a trainer worker"
            return f"{who} (pid {m.group(3)}) was killed by {m.group(2)}"
    for line in reversed(lines):
        m = _EXC_LINE.match(line.strip())
        if m and not m.group(1).endswith(_IGNORED_EXC):
            return line.strip()[:500]
    return None


def decide(returncode: int | None, finish: dict[str, Any] | None, stop_action: str | None,
           killed_after_grace: float | None = None, log_path: Path | None = None) -> Outcome:
    """The final state of an attempt.

    returncode: torchrun's (negative = killed by that signal; None = never started).
    stop_action: None, "stop" (clpbert runs stop / SIGTERM to the supervisor) or "kill".
    killed_after_grace: seconds of grace after which the trainer had to be SIGKILLed.
    """
    status = (finish or {}).get("status")
    step = (finish or {}).get("step")
    code = returncode if returncode is not None and returncode >= 0 else None
    sig = -returncode if returncode is not None and returncode < 0 else None
    if stop_action == "kill":
        return Outcome(RunState.KILLED, "killed by user (SIGKILL)", code, sig)
    if stop_action == "stop":
        if returncode is None:
            return Outcome(RunState.KILLED, "stopped by user while queued")
        if killed_after_grace is not None:
            return Outcome(RunState.KILLED, "stopped by user; SIGKILLed after the "
                                            f"{killed_after_grace:g} s grace period", code, sig)
        if status == TrainerStatus.STOPPED:
            return Outcome(RunState.KILLED, f"stopped by user at step {step} (checkpoint written)", code, sig)
        if status == TrainerStatus.FINISHED and returncode == 0:
            return Outcome(RunState.FINISHED, "finished before the stop request took effect", code, sig)
        return Outcome(RunState.KILLED, "stopped by user", code, sig)
    if returncode == 0 and status == TrainerStatus.FINISHED:
        return Outcome(RunState.FINISHED, (finish or {}).get("reason"), 0, None)
    if returncode == 0 and status == TrainerStatus.STOPPED:
        return Outcome(RunState.KILLED, f"trainer stopped by {(finish or {}).get('reason') or 'a signal'} "
                                 "from outside clpbert", 0, None)
    if sig is not None:
        return Outcome(RunState.FAILED, f"trainer (torchrun) was killed by {signal_name(sig)}"
                       + (" (out of memory?)" if sig == 9 else ""), None, sig)
    if status == TrainerStatus.FAILED and (finish or {}).get("reason"):
        return Outcome(RunState.FAILED, str(finish["reason"]), code, None)  # type: ignore[index]
    from_log = log_reason(log_path) if log_path is not None else None
    if returncode == 0:
        return Outcome(RunState.FAILED, "trainer exited without a finish event", 0, None)
    return Outcome(RunState.FAILED, from_log or f"trainer exited with code {returncode}", code, None)


def from_finish(finish: dict[str, Any], log_path: Path | None = None) -> Outcome:
    """The final state from the trainer's finish event alone (no supervisor saw the exit: a Slurm
    job, an imported run dir). The trainer exits 0 after `finished` and `stopped`, non-zero after
    `failed`; a stop came from outside clpbert (scancel, a time limit, a kill on another machine)."""
    status = finish.get("status")
    exited_ok = status in (TrainerStatus.FINISHED, TrainerStatus.STOPPED)
    outcome = decide(0 if exited_ok else 1, finish, None, log_path=log_path)
    if status == TrainerStatus.STOPPED:
        return Outcome(outcome.state, f"stopped by {finish.get('reason') or 'a signal'} at step "
                                      f"{finish.get('step')} (scancel, a time limit or a kill)",
                       outcome.exit_code, outcome.signal)
    return outcome
