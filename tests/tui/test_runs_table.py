"""The virtualised runs table: windowed reads, scrolling, in-place updates."""

from __future__ import annotations

import pytest

from clpbert.registry import open_registry
from tui.widgets.runs_table import RunsTable

pytestmark = pytest.mark.anyio


@pytest.fixture
def many_runs(tui_home):
    """400 more runs (through the registry API) on top of the four fixture runs."""
    with open_registry() as reg:
        for i in range(400):
            reg.create_run("finetune", "msrvtt_qa", name=f"sweep-{i:03d}", total_steps=100)
    return tui_home


async def test_reads_only_a_window_and_fetches_more_when_scrolled(many_runs, make_app, settle):
    app = make_app()
    calls = []
    page = app.data.runs_page

    def recording_page(query, offset, limit):
        calls.append((offset, limit))
        return page(query, offset, limit)

    app.data.runs_page = recording_page
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(RunsTable)
        assert table.total == 404
        assert calls and all(limit <= 80 for _, limit in calls)  # ~36 visible lines + margins, never 404
        assert table.virtual_size.height == 405  # the scrollbar knows every row (header + 404)
        assert table.visible_rows()[0].name == "sweep-399"  # newest first

        await pilot.press("end")
        await settle(pilot)
        assert table.cursor_row == 403
        assert calls[-1][0] > 300  # the window moved to the end
        assert table.visible_rows()[-1].name == "msrvtt-ret-base"  # the oldest run
        assert table.cursor.name == "msrvtt-ret-base"

        await pilot.press("home", "pagedown")
        await settle(pilot)
        assert table.cursor_row == table.size.height - 2


async def test_refresh_repaints_only_the_lines_that_changed(make_app, settle, ids):
    app = make_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(RunsTable)
        painted = []
        original = table.refresh_line
        table.refresh_line = lambda y: (painted.append(y), original(y))[1]
        table.reload()
        await settle(pilot)
        assert painted == []  # nothing new, nothing repainted
        with open_registry() as reg:
            reg.update_run(ids["running"], step=121, latest_loss=0.7)
        table.reload()
        await settle(pilot)
        assert painted == [2]  # line 2 = second row (the running run); the header is line 0
        assert table.visible_rows()[1].step == 121
