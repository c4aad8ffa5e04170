"""The run lifecycle module: one transition table that every state change is checked against, and
the only place a state is spelled."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from clpbert.runs import lifecycle
from clpbert.runs.lifecycle import (
    ACTIONS,
    ACTIVE,
    FINAL,
    TRANSITIONS,
    Action,
    IllegalTransition,
    RunState,
    allows,
    check_transition,
    sources_of,
)

ROOT = Path(__file__).resolve().parents[2]
STATE_NAMES = {s.value for s in RunState}


def test_every_state_has_a_row_and_final_states_only_lead_to_a_resume():
    assert set(TRANSITIONS) == set(RunState)
    assert set(ACTIVE) | set(FINAL) == set(RunState) and not set(ACTIVE) & set(FINAL)
    for state in FINAL:
        assert TRANSITIONS[state] <= {RunState.QUEUED}
    assert TRANSITIONS[RunState.FINISHED] == frozenset()  # trained further with --init, never resumed
    for state in ACTIVE:  # any active run can end in any final state (the supervisor's outcome)
        assert set(FINAL) <= TRANSITIONS[state]


def test_the_transitions_the_run_manager_makes_are_in_the_table():
    # supervisor: queue for GPUs, start, run, stop; resume; Slurm sync and run-dir import
    check_transition((RunState.QUEUED, RunState.STARTING), RunState.QUEUED)
    check_transition((RunState.QUEUED, RunState.STARTING), RunState.STARTING)
    check_transition((RunState.STARTING,), RunState.RUNNING)
    check_transition((RunState.STARTING, RunState.RUNNING), RunState.STOPPING)
    check_transition(lifecycle.RESUMABLE, RunState.QUEUED)
    for final in FINAL:
        check_transition(ACTIVE, final)
    assert sources_of(RunState.RUNNING) == (RunState.QUEUED, RunState.STARTING)


@pytest.mark.parametrize(("source", "target"), [
    ("finished", "queued"),   # a finished run is not resumed
    ("running", "queued"),    # nor re-queued while its trainer runs
    ("stopping", "running"),  # a stop is not undone
    ("lost", "running"),
    ("killed", "finished"),
])
def test_a_transition_not_in_the_table_raises(source, target):
    with pytest.raises(IllegalTransition, match=f"{source} -> {target}"):
        check_transition([source], target)


def test_registry_refuses_a_transition_not_in_the_table_and_changes_nothing(registry):
    run = registry.create_run("finetune", "demo")
    assert registry.set_run_state(run.id, RunState.FINISHED, only_from=ACTIVE)
    with pytest.raises(IllegalTransition):
        registry.set_run_state(run.id, RunState.QUEUED, reason="resume?", only_from=[RunState.FINISHED])
    got = registry.get_run(run.id)
    assert got.state == RunState.FINISHED and got.reason is None
    # the legal compare-and-set still works (and still answers False when the run is elsewhere)
    assert not registry.set_run_state(run.id, RunState.QUEUED, only_from=lifecycle.RESUMABLE)


def test_actions_per_state():
    assert allows(Action.RESUME, "failed") and allows(Action.RESUME, "lost")
    assert not allows(Action.RESUME, "finished") and not allows(Action.RESUME, "running")
    assert allows(Action.STOP, "running") and not allows(Action.STOP, "stopping")
    assert allows(Action.KILL, "stopping") and not allows(Action.KILL, "killed")
    assert set(ACTIONS) == set(Action)


def _state_literals(path: Path) -> list[int]:
    """Lines of string constants equal to a state name (docstrings are prose, not literals)."""
    tree = ast.parse(path.read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and node.value in STATE_NAMES and id(node) not in docstrings]


ALLOWED_LITERALS = {
    "clpbert/runs/lifecycle.py": None,  # the one home
    "clpbert/data/convert/prepare.py": 1,  # "failed": the count of videos that failed to pack, not a state
}


def test_no_state_name_is_spelled_outside_the_lifecycle_module():
    found = {}
    for package in ("clpbert", "cli", "tui"):
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if "/migrations/" in rel:
                continue  # a migration is frozen history: it keeps the names it was written with
            lines = _state_literals(path)
            allowed = ALLOWED_LITERALS.get(rel, 0)
            if lines and allowed is not None and len(lines) > allowed:
                found[rel] = lines
    assert not found, f"state names spelled outside clpbert/runs/lifecycle.py: {found}"


def test_reconcile_no_longer_imports_the_service():
    """service -> reconcile -> slurm_sync used to import service back for its ACTIVE tuple."""
    code = ("import sys, clpbert.runs.reconcile, clpbert.runs.slurm_sync\n"
            "print('clpbert.runs.service' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"
