"""run_actions: the decisions `clpbert runs rm` and the TUI share (refusing an active run), the
TUI's edit (a wanted tag set becomes adds and removes) and the new-run dialog's launch kind."""

from __future__ import annotations

import pytest


def test_removing_an_active_run_is_refused_unless_forced(clpbert_home):
    from clpbert.app.run_actions import runs_to_remove
    from clpbert.errors import UserError
    from clpbert.registry import open_registry
    from clpbert.runs.lifecycle import RunState

    with open_registry() as reg:
        done = reg.create_run("finetune", "demo", name="done", state=RunState.FINISHED)
        live = reg.create_run("finetune", "demo", name="live", state=RunState.RUNNING)
        assert [r.id for r in runs_to_remove(reg, ["done"])] == [done.id]
        with pytest.raises(UserError, match=f"run {live.id} is running; stop it first or pass --force"):
            runs_to_remove(reg, ["done", "live"])
        assert [r.id for r in runs_to_remove(reg, ["done", "live"], force=True)] == [done.id, live.id]


def test_the_cli_refuses_removing_an_active_run_with_the_same_line(clpbert_home, inproc):
    import os

    from clpbert.registry import open_registry
    from clpbert.runs import procs
    from clpbert.runs.lifecycle import RunState

    me = procs.ProcessId.of(os.getpid())  # a live supervisor, so reconcile keeps the run running
    with open_registry() as reg:
        live = reg.create_run("finetune", "demo", name="live", state=RunState.RUNNING)
        reg.update_run(live.id, supervisor_pid=me.pid, supervisor_create_time=me.create_time)
    done = inproc("runs", "rm", "live", "--yes")
    assert done.returncode == 2
    assert f"run {live.id} is running; stop it first or pass --force" in done.stderr
    with open_registry() as reg:
        assert reg.get_run(live.id).state == RunState.RUNNING


def test_set_labels_makes_the_tags_exactly_the_ones_given(clpbert_home):
    from clpbert.app.run_actions import set_labels
    from clpbert.registry import open_registry
    from clpbert.runs.run_dir import RunDir

    with open_registry() as reg:
        run = reg.create_run("finetune", "demo", name="r", state="finished", tags=["a", "b"])
        RunDir(run.run_dir).create()
        set_labels(reg, run.id, name="better", tags=["b", "c"], notes="n")
        edited = reg.get_run(run.id)
        assert (edited.name, sorted(map(str, edited.tags)), edited.notes) == ("better", ["b", "c"], "n")
