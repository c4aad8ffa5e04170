"""The app shell: screens by number keys, help listing every key, theme toggle, palette, quit."""

from __future__ import annotations

import pytest
from textual.command import CommandPalette

from tui.screens.checkpoints import CheckpointsScreen
from tui.screens.datasets import DatasetsScreen
from tui.screens.gpus import GpusScreen
from tui.screens.help import HelpScreen
from tui.screens.runs import RunsScreen
from tui.widgets.runs_table import RunsTable

pytestmark = pytest.mark.anyio


async def test_opens_on_runs_screen_with_every_fixture_run(make_app, settle):
    app = make_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(RunsTable)
        assert isinstance(app.screen, RunsScreen)
        assert table.total == 4
        assert [r.name for r in table.visible_rows()] == [
            "pretrain-queued", "demo-qa-live", "tgif-frameqa-oom", "msrvtt-ret-base"]


async def test_number_keys_switch_screens_ctrl_t_toggles_theme_ctrl_q_quits(make_app, settle):
    app = make_app()
    async with app.run_test(size=(140, 40)) as pilot:
        for key, screen in (("2", DatasetsScreen), ("3", CheckpointsScreen), ("4", GpusScreen),
                            ("1", RunsScreen)):
            await pilot.press(key)
            await settle(pilot)
            assert isinstance(app.screen, screen), key
        assert app.current_theme.dark
        await pilot.press("ctrl+t")
        assert app.theme == "textual-light" and not app.current_theme.dark
        await pilot.press("ctrl+t")
        assert app.current_theme.dark
        await pilot.press("ctrl+q")
        await pilot.pause()
    assert app.return_code == 0


async def test_f1_and_question_mark_list_every_key_of_the_screen(make_app, settle):
    app = make_app()
    async with app.run_test(size=(140, 50)) as pilot:
        await settle(pilot)
        for key in ("f1", "question_mark"):
            await pilot.press(key)
            await settle(pilot)
            assert isinstance(app.screen, HelpScreen)
            text = str(app.screen.query_one("#help-keys").render())
            for expected in ("New run", "Stop", "Kill", "Resume", "Edit", "Compare", "Delete", "Filter",
                             "Quit", "Help", "Light/dark", "ctrl+p", "Mark", "Page down"):
                assert expected in text, expected
            await pilot.press("escape")
            await settle(pilot)
            assert isinstance(app.screen, RunsScreen)


async def test_command_palette_goes_to_a_screen(make_app, settle):
    app = make_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("ctrl+p")
        await settle(pilot)
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"go to gpus")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, GpusScreen)


async def test_an_open_tui_marks_a_run_whose_supervisor_died_lost(make_app, settle, notifications, tmp_path):
    """`clpbert tui` reconciles at start; left open, it keeps doing so: a dead run stops showing running."""
    import subprocess
    import sys
    import time

    import psutil

    from clpbert.registry import open_registry

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    ctime = psutil.Process(proc.pid).create_time()
    proc.wait()
    with open_registry() as reg:
        run = reg.create_run("finetune", "demo", name="died-while-open", run_dir=tmp_path / "died")
        reg.set_run_state(run.id, "running")
        reg.update_run(run.id, supervisor_pid=proc.pid, supervisor_create_time=ctime)
    app = make_app(reconcile_s=0.2)
    async with app.run_test(size=(140, 40)) as pilot:
        deadline = time.monotonic() + 30
        while not any(run.id in n for n in notifications(app)):
            assert time.monotonic() < deadline, "no reconcile pass in 30 s"
            await pilot.pause(0.1)
        with open_registry() as reg:
            assert reg.get_run(run.id).state == "lost"
            assert "disappeared" in reg.get_run(run.id).reason
        await pilot.press("ctrl+r")
        await settle(pilot)
        rows = {r.name: r.state for r in app.screen.query_one(RunsTable).visible_rows()}
        assert rows["died-while-open"] == "lost"
