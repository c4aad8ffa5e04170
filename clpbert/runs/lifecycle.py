"""The run lifecycle in one place: its states, the legal transitions, what a user may do in each.

    queued → starting → running → stopping → finished | failed | killed | lost
    failed | killed | lost → queued          (resume: a new attempt of the same run)

The supervisor, the service, reconcile, the Slurm sync, the run-dir import, the CLI and the TUI
all ask this module; none of them spells a state name. Every compare-and-set state change goes
through `Registry.set_run_state(..., only_from=...)`, which checks each (from, to) pair against
TRANSITIONS: a pair not in the table is a bug and raises IllegalTransition.

Leaf module (standard library only), so the registry, the trainer and both front-ends import it
without cycles.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable


class RunState(enum.StrEnum):
    """queued → starting → running → stopping → finished | failed | killed | lost."""

    QUEUED = "queued"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    FINISHED = "finished"
    FAILED = "failed"
    KILLED = "killed"
    LOST = "lost"

    def __str__(self) -> str:
        return self.value

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATES

    @property
    def active(self) -> bool:
        return self in ACTIVE_STATES


ACTIVE: tuple[RunState, ...] = (RunState.QUEUED, RunState.STARTING, RunState.RUNNING, RunState.STOPPING)
"""States with a process (or a queue slot) behind them, in lifecycle order."""
FINAL: tuple[RunState, ...] = (RunState.FINISHED, RunState.FAILED, RunState.KILLED, RunState.LOST)
"""States a run ends in; `ended` is set on entering one."""
ALL: tuple[RunState, ...] = (*ACTIVE, *FINAL)
RESUMABLE: tuple[RunState, ...] = (RunState.FAILED, RunState.KILLED, RunState.LOST)
"""Final states a run may be resumed from (a finished run is trained further with --init instead)."""
ACTIVE_STATES = frozenset(ACTIVE)
TERMINAL_STATES = frozenset(FINAL)

_ANY_END = frozenset(FINAL)
TRANSITIONS: dict[RunState, frozenset[RunState]] = {
    # queued -> queued: the supervisor re-states the reason ("waiting for GPUs"); -> running: a Slurm job
    # or an imported run dir whose trainer started; -> lost: reconcile; -> killed: stopped while queued.
    RunState.QUEUED: frozenset({RunState.QUEUED, RunState.STARTING, RunState.RUNNING}) | _ANY_END,
    # starting -> queued: a supervisor that finds its GPUs taken queues again.
    RunState.STARTING: frozenset({RunState.QUEUED, RunState.STARTING, RunState.RUNNING,
                                  RunState.STOPPING}) | _ANY_END,
    RunState.RUNNING: frozenset({RunState.STOPPING}) | _ANY_END,
    RunState.STOPPING: _ANY_END,
    RunState.FINISHED: frozenset(),
    RunState.FAILED: frozenset({RunState.QUEUED}),
    RunState.KILLED: frozenset({RunState.QUEUED}),
    RunState.LOST: frozenset({RunState.QUEUED}),
}
"""from-state -> the states a compare-and-set may move it to."""


class IllegalTransition(RuntimeError):
    """A state change not in TRANSITIONS: a bug in the caller, never a user error."""


def state_of(value: str | RunState) -> RunState:
    """The RunState named `value` (ValueError for an unknown name)."""
    return RunState(str(value))


def check_transition(sources: Iterable[str | RunState], target: str | RunState) -> tuple[RunState, ...]:
    """`sources` as RunStates, after checking every (source -> target) is in TRANSITIONS."""
    to = state_of(target)
    froms = tuple(state_of(s) for s in sources)
    bad = [str(s) for s in froms if to not in TRANSITIONS[s]]
    if bad:
        raise IllegalTransition(f"run state {', '.join(bad)} -> {to} is not in the lifecycle's "
                                "transition table")
    return froms


def sources_of(target: str | RunState) -> tuple[RunState, ...]:
    """Every state from which `target` may be entered, in lifecycle order."""
    to = state_of(target)
    return tuple(s for s in ALL if to in TRANSITIONS[s])


def is_active(state: str | RunState) -> bool:
    return str(state) in ACTIVE_STATES


def is_final(state: str | RunState) -> bool:
    return str(state) in TERMINAL_STATES


class Action(enum.StrEnum):
    """What a user may ask of a run (CLI `runs stop|kill|resume|rm`, the TUI's keys)."""

    STOP = "stop"
    KILL = "kill"
    RESUME = "resume"
    REMOVE = "remove"


ACTIONS: dict[Action, tuple[RunState, ...]] = {
    # A stopping run is already being stopped: the TUI does not offer stop again (the service still
    # re-sends SIGTERM when asked from the command line, which any active run accepts).
    Action.STOP: (RunState.QUEUED, RunState.STARTING, RunState.RUNNING),
    Action.KILL: ACTIVE,
    Action.RESUME: RESUMABLE,
    Action.REMOVE: ALL,  # an active run only with --force (it is killed first)
}
"""action -> the states in which a front-end offers it."""


def allows(action: Action, state: str | RunState) -> bool:
    return str(state) in ACTIONS[action]


class TrainerStatus(enum.StrEnum):
    """The `status` of the trainer's finish event in events.jsonl; clpbert.runs.outcome maps it
    (with the exit code and any stop request) to the run's final RunState."""

    FINISHED = "finished"
    STOPPED = "stopped"
    FAILED = "failed"
