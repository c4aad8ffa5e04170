"""The runs screen on a real registry: filter, sort, marks, and the run-manager actions."""

from __future__ import annotations

import pytest

from clpbert.registry import open_registry
from tui.screens.compare import CompareScreen
from tui.screens.confirm import ConfirmScreen
from tui.screens.run_detail import RunDetailScreen
from tui.screens.runs import RunsScreen, format_filter, parse_filter
from tui.widgets.runs_table import RunQuery, RunsTable

pytestmark = pytest.mark.anyio


def test_parse_filter_splits_words_states_task_and_tag():
    q = parse_filter("oom state:failed,lost task:tgif_qa_frameqa", RunQuery(sort="name", descending=False))
    assert q == RunQuery("oom", ("failed", "lost"), "tgif_qa_frameqa", "name", False)
    q = parse_filter("tag:sweep oom", RunQuery())
    assert (q.text, q.tag) == ("oom", "sweep") and format_filter(q) == "oom tag:sweep"


async def test_filter_state_cycle_and_sorting(make_app, settle):
    app = make_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(RunsTable)

        def names():
            return [r.name for r in table.visible_rows()]

        await pilot.press("slash", *"oom")
        await settle(pilot)
        assert names() == ["tgif-frameqa-oom"]
        await pilot.press("enter", "escape")  # back to the table, then clear the filter
        await settle(pilot)
        assert table.total == 4

        await pilot.press("f")  # live states only
        await settle(pilot)
        assert sorted(names()) == ["demo-qa-live", "pretrain-queued"]
        await pilot.press("f")
        await settle(pilot)
        assert names() == ["demo-qa-live"]
        await pilot.press("escape")

        await pilot.press("o")  # sort by the next sortable column: created (Age, the last) -> id
        await settle(pilot)
        assert table.run_query.sort == "id"
        await pilot.press("o")
        await settle(pilot)
        assert table.run_query.sort == "name"
        assert names() == sorted(names(), reverse=True)
        await pilot.press("O")
        await settle(pilot)
        assert names() == sorted(names())

        await pilot.click(RunsTable, offset=(20, 0))  # the "Name" header: flips the order again
        await settle(pilot)
        assert table.run_query.sort == "name" and table.run_query.descending
        await pilot.click(RunsTable, offset=(4, 0))  # the "ID" header
        await settle(pilot)
        assert table.run_query.sort == "id"


async def test_enter_and_double_click_open_the_run(make_app, settle, ids):
    app = make_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        await pilot.press("down", "enter")
        await settle(pilot)
        assert isinstance(app.screen, RunDetailScreen) and app.screen.run_id == ids["running"]
        await pilot.press("escape")
        await settle(pilot)
        await pilot.click(RunsTable, offset=(20, 3), times=2)  # line 3 = third row (line 0 is the header)
        await settle(pilot)
        assert isinstance(app.screen, RunDetailScreen) and app.screen.run_id == ids["failed"]


async def test_marked_runs_open_in_compare(make_app, settle, ids, notifications):
    app = make_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        await pilot.press("c")
        assert any("mark two" in n for n in notifications(app))
        await pilot.press("down", "space", "space")  # marks running and failed (space moves down)
        await settle(pilot)
        assert set(app.screen.query_one(RunsTable).marked) == {ids["running"], ids["failed"]}
        await pilot.press("c")
        await settle(pilot)
        assert isinstance(app.screen, CompareScreen)
        assert app.screen.metric == "train/loss"
        labels = app.screen.query_one("#compare-plot").names
        assert labels == ["demo-qa-live (a1b2c3d4)", "tgif-frameqa-oom (c3d4e5f6)"]
        assert all(app.screen.store.series[label].steps for label in labels)


async def test_stop_asks_then_the_run_manager_ends_the_run(make_app, settle, ids, notifications):
    """The fixture's running run has no supervisor: the run manager records it as killed."""
    app = make_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        await pilot.press("down", "s")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")  # no: nothing happens
        await settle(pilot)
        assert isinstance(app.screen, RunsScreen)
        with open_registry() as reg:
            assert str(reg.get_run(ids["running"]).state) == "running"
        await pilot.press("s", "y")
        await settle(pilot)
        with open_registry() as reg:
            run = reg.get_run(ids["running"])
        assert str(run.state) == "killed" and "stopped by user" in run.reason
        assert any(n.startswith("stop:") for n in notifications(app))
        row = next(r for r in app.screen.query_one(RunsTable).visible_rows() if r.id == ids["running"])
        assert row.state == "killed"  # the table updated in place


async def test_kill_resume_and_delete(make_app, settle, ids, notifications, tui_home):
    app = make_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        await pilot.press("k", "y")  # top row: the queued run
        await settle(pilot)
        with open_registry() as reg:
            assert str(reg.get_run(ids["queued"]).state) == "killed", notifications(app)

        await pilot.press("down", "down", "r")  # the failed run has no checkpoint: a clear refusal
        await settle(pilot)
        assert any("no checkpoint to resume from" in n for n in notifications(app))

        await pilot.press("down", "r")  # finished runs are not resumable
        await settle(pilot)
        assert any("only failed, killed or lost" in n for n in notifications(app))

        await pilot.press("delete")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await settle(pilot)
        assert app.screen.query_one(RunsTable).total == 3
        assert not (tui_home / "runs" / ids["finished"]).exists()
        with open_registry() as reg:
            assert reg.count_runs() == 3


async def test_edit_renames_tags_and_notes_the_run_and_an_empty_name_is_refused(make_app, settle, ids,
                                                                                 notifications):
    from textual.widgets import Input, Label, TextArea

    from tui.screens.edit_run import EditRunScreen, parse_tags

    assert parse_tags("a, b  c,,a") == ["a", "b", "c"]
    app = make_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        await pilot.press("down", "e")  # the running run
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, EditRunScreen) and dialog.run_id == ids["running"]
        assert dialog.query_one("#edit-name", Input).value == "demo-qa-live"
        dialog.query_one("#edit-name", Input).value = "  "
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is dialog
        assert "cannot be empty" in str(dialog.query_one("#edit-error", Label).render())
        dialog.query_one("#edit-name", Input).value = "demo-qa-renamed"
        dialog.query_one("#edit-tags", Input).value = "keep, lr-sweep"
        dialog.query_one("#edit-notes", TextArea).text = "loss spikes at 2k"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, RunsScreen)
        assert any(f"saved run {ids['running']}" in n for n in notifications(app))
        with open_registry() as reg:
            run = reg.get_run(ids["running"])
        assert (run.name, run.tags) == ("demo-qa-renamed", ["keep", "lr-sweep"])
        assert run.notes == "loss spikes at 2k"
        names = [r.name for r in app.screen.query_one(RunsTable).visible_rows()]
        assert "demo-qa-renamed" in names
        app.screen.query_one("#runs-filter", Input).value = "tag:lr-sweep"  # the new tag filters
        await settle(pilot)
        assert [r.name for r in app.screen.query_one(RunsTable).visible_rows()] == ["demo-qa-renamed"]
        app.screen.query_one(RunsTable).focus()
        await pilot.press("e", "escape")  # cancel changes nothing
        await settle(pilot)
        assert isinstance(app.screen, RunsScreen)
        await pilot.press("enter")  # the detail screen shows them
        await settle(pilot)
        summary = str(app.screen.query_one("#run-summary").render())
        assert "demo-qa-renamed" in summary and "tags keep, lr-sweep" in summary
        assert "notes: loss spikes at 2k" in summary


async def test_node_runs_of_a_job_sit_together_and_each_shows_the_whole_job(make_app, settle, two_node_job):
    node0, node1 = two_node_job
    app = make_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(RunsTable)

        def ids() -> list[str]:
            return [r.id for r in table.visible_rows()]

        # newest first would put node 1 (created later) first: the job's runs are grouped by node rank
        assert ids().index(node1) == ids().index(node0) + 1
        assert [r.job for r in table.visible_rows() if r.job != "-"] == [f"{node0} n0", f"{node0} n1"]
        await pilot.click(RunsTable, offset=(62, 0))  # the "Job" header: sort by job
        await settle(pilot)
        assert table.run_query.sort == "job_id" and ids()[:2] == [node0, node1]

        app.open_run(node1)
        await settle(pilot)
        summary = str(app.screen.query_one("#run-summary").render())
        assert (f"job {node0} (2 nodes): node 0 {node0} running on gpu-node-17 · "
                "node 1 this run running on gpu-node-18") in summary, summary
