"""The new-run dialog: live GPU list, inline errors, and (slow) a real run started from it."""

from __future__ import annotations

import asyncio
import time

import pytest
from textual.widgets import Input, Label, Select, SelectionList

from clpbert.registry import open_registry
from tests.tiny_configs import TINY_MANAGED_RUN
from tui.screens.new_run import NewRunScreen
from tui.screens.runs import RunsScreen
from tui.widgets.runs_table import RunsTable

pytestmark = pytest.mark.anyio

TINY = TINY_MANAGED_RUN


async def open_dialog(app, pilot, settle) -> NewRunScreen:
    await settle(pilot)
    await pilot.press("n")
    await settle(pilot)
    assert isinstance(app.screen, NewRunScreen)
    return app.screen


async def test_dialog_offers_choices_and_marks_busy_gpus(make_app, settle):
    app = make_app()
    async with app.run_test(size=(140, 50)) as pilot:
        dialog = await open_dialog(app, pilot, settle)
        assert dialog.query_one("#new-task", Select).value == "demo"
        assert dialog.choices.datasets == [("demo", "demo")]
        assert [ref for ref, _ in dialog.choices.checkpoints] == ["a1b2c3d4-step100", "clipbert-init"]
        gpus = dialog.query_one("#new-gpus", SelectionList)
        options = [gpus.get_option_at_index(i) for i in range(gpus.option_count)]
        assert [o.disabled for o in options] == [True, True, False, False]  # 0, 1 held by demo-qa-live
        assert "busy: demo-qa-live" in str(options[0].prompt) and "free" in str(options[2].prompt)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, RunsScreen)


async def test_a_bad_override_is_shown_and_nothing_starts(make_app, settle):
    app = make_app()
    async with app.run_test(size=(140, 50)) as pilot:
        dialog = await open_dialog(app, pilot, settle)
        dialog.query_one("#new-overrides", Input).value = "optim.no_such_key=1"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is dialog
        assert "optim.no_such_key" in str(dialog.query_one("#new-error", Label).render())
        with open_registry() as reg:
            assert reg.count_runs() == 4


@pytest.mark.slow
async def test_start_from_the_dialog_creates_and_runs_a_real_run(make_app, settle, notifications):
    app = make_app(refresh_s=0.5)
    async with app.run_test(size=(140, 50)) as pilot:
        dialog = await open_dialog(app, pilot, settle)
        dialog.query_one("#new-dataset", Select).value = "demo"
        dialog.query_one("#new-name", Input).value = "from-the-tui"
        dialog.query_one("#new-overrides", Input).value = " ".join([*TINY, "optim.max_steps=3"])
        gpus = dialog.query_one("#new-gpus", SelectionList)
        assert not gpus.selected  # CPU run
        await pilot.click("#new-start")
        await settle(pilot)
        assert isinstance(app.screen, RunsScreen), str(dialog.query_one("#new-error", Label).render())
        with open_registry() as reg:
            run = reg.get_run("from-the-tui")
            assert run.config["optim"]["max_steps"] == 3
            assert any(f"started run {run.id}" in n for n in notifications(app))
            deadline = time.monotonic() + 180
            while str(reg.get_run(run.id).state) not in ("finished", "failed", "killed", "lost"):
                assert time.monotonic() < deadline, "the run did not end in 180 s"
                await asyncio.sleep(0.5)
            run = reg.get_run(run.id)
        assert str(run.state) == "finished", run.reason
        assert run.step == 3 and run.latest_loss is not None
        await pilot.pause(1.0)
        await settle(pilot)
        row = next(r for r in app.screen.query_one(RunsTable).visible_rows() if r.id == run.id)
        assert row.state == "finished" and row.step == 3
