"""Closing the run detail before it has finished opening: the app lives on, back on the runs."""

from __future__ import annotations

import pytest
from textual import events

from clpbert.registry import open_registry
from tui.screens.run_detail import RunDetailScreen
from tui.screens.runs import RunsScreen

pytestmark = pytest.mark.anyio
POINTS = 200_000


@pytest.fixture
def long_run(tui_home, ids) -> str:
    """The finished fixture run with 200k loss points: its first read takes a while."""
    with open_registry() as reg:
        rows = [(s, "train/loss", 1.0 / (1 + s), None) for s in range(1000, POINTS)]
        reg.add_metrics(ids["finished"], rows)
    return ids["finished"]


async def test_esc_at_once_goes_back_to_the_runs(make_app, settle, long_run):
    """esc as the terminal sends it (a key event posted to the app) right after the open, while
    the first read runs: the screen, being removed, went on to mount and fill its other tabs,
    which crashed the app (NoMatches '#config-text'; Textual's tabs also raised `No Tab with id`)."""
    app = make_app()
    async with app.run_test(size=(140, 45)) as pilot:
        await settle(pilot)
        app.open_run(long_run)
        screen = app.screen
        assert isinstance(screen, RunDetailScreen) and screen.after_metric_id is None  # not read yet
        app.post_message(events.Key("escape", None))
        await settle(pilot)
        await pilot.pause(0.3)
        assert app.is_running
        assert isinstance(app.screen, RunsScreen)
    assert app.return_code in (None, 0)


async def test_closed_before_its_other_tabs_are_mounted(make_app, settle, long_run):
    """Closed right after its first frame, while the resources/evals/log/config widgets are being
    mounted into it: filling them must not crash on widgets that went with the screen."""
    app = make_app()
    async with app.run_test(size=(140, 45)) as pilot:
        await settle(pilot)
        app.open_run(long_run)
        screen = app.screen
        await pilot.pause(0.001)
        assert screen.after_metric_id is not None and not screen._tabs_ready  # curves in, tabs not
        app.pop_screen()
        await settle(pilot)
        await pilot.pause(0.3)
        assert app.is_running
        assert isinstance(app.screen, RunsScreen)
    assert app.return_code in (None, 0)
