"""What keeps screens quick to open, asserted as behaviour (no timings; those are in benchmarks/):
the first frame of the run detail and predictions screens already shows their data, the key
footer is one widget that still works by key and click, and the app keeps its startup objects out
of the GC's full passes only while it runs."""

from __future__ import annotations

import gc

import pytest

from clpbert.predictions import schema, store

pytestmark = pytest.mark.anyio
RUNNING = "a1b2c3d4"  # tests/tui/conftest.py's live run (120 steps of train/loss, loss parts, lr)


def first_frames(app, screen_type) -> list[dict]:
    """Record, at each frame the app paints for a screen of `screen_type`, what that screen held."""
    seen: list[dict] = []
    paint = app._display

    def spy(screen, renderable) -> None:
        if renderable is not None and isinstance(screen, screen_type):
            seen.append(snapshot(screen))
        paint(screen, renderable)

    app._display = spy
    return seen


def snapshot(screen) -> dict:
    from tui.screens.predictions import PredictionsScreen
    from tui.widgets.loss_plot import LossPlot
    from tui.widgets.predictions_table import PredictionsTable

    if isinstance(screen, PredictionsScreen):
        return {"rows": screen.query_one(PredictionsTable).total}
    plot = screen.query_one("#loss-plot", LossPlot)
    series = screen.store.series.get("train/loss")
    return {"names": list(plot.names), "points": len(series.steps) if series else 0}


async def test_the_run_detail_screens_first_frame_has_its_curves(make_app, settle):
    from tui.screens.run_detail import RunDetailScreen

    app = make_app()
    async with app.run_test(size=(140, 45)) as pilot:
        await settle(pilot)
        frames = first_frames(app, RunDetailScreen)
        app.open_run(RUNNING)
        await settle(pilot)
        assert frames, "the detail screen was painted"
        # before, the first frame came before the registry read: empty plots, "no data yet"
        assert frames[0] == {"names": ["train/loss", "train/loss/itm", "train/loss/mlm"], "points": 12}
        # the other tabs were mounted after that frame, and hold the run's data
        assert app.screen.query_one("#eval-table").row_count == 2
        assert "max_steps: 200" in app.screen.query_one("#config-text").content.code


async def test_the_predictions_screens_first_frame_has_its_table(make_app, settle, tui_home):
    from clpbert.registry import open_registry
    from tui.screens.predictions import PredictionsScreen

    with open_registry() as reg:
        ev = reg.list_evals(RUNNING)[-1]
        rows = [schema.record(example_id=f"q{i}", video_key=f"video{i}", type="what", text=f"clip {i}?",
                              answer="dog", pred="dog" if i % 3 else "cat", correct=bool(i % 3),
                              score=0.5, rank=1 if i % 3 else 2, candidates=["dog", "cat"],
                              candidate_scores=[0.5, 0.4]) for i in range(30)]
        rel = store.write_predictions(reg.get_run(RUNNING).run_dir, ev.step, "val", schema.QA, rows)
        reg.add_eval_predictions(ev.id, str(rel), kind=schema.QA, rows=len(rows))
    app = make_app()
    async with app.run_test(size=(150, 45)) as pilot:
        await settle(pilot)
        frames = first_frames(app, PredictionsScreen)
        app.push_screen(PredictionsScreen(RUNNING))
        await settle(pilot)
        assert frames and frames[0] == {"rows": 30}  # before: "loading predictions…" and no rows
        assert app.screen.view.index is not None  # the search index, built alongside that frame


async def test_key_footer_shows_the_screens_keys_and_a_click_presses_one(make_app, settle):
    from tui.widgets.key_footer import KeyFooter
    from tui.widgets.tab_bar import TabBar

    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        app.open_run(RUNNING)
        await settle(pilot)
        footer = app.screen.query_one(KeyFooter)
        text = str(footer.render())
        assert text.startswith(" esc Back  p Curves  g Resources") and text.rstrip().endswith("^p palette")
        assert len(app.screen.query("KeyFooter *")) == 0  # one widget, not one per key
        start, _, key = next(s for s in footer._spans if s[2].key == "g")
        await pilot.click(KeyFooter, offset=(start + 1, 0))
        await settle(pilot)
        assert key.description == "Resources" and app.screen.query_one(TabBar).active == "gpus"


async def test_tab_bar_is_one_widget_that_switches_by_click_and_arrow_keys(make_app, settle):
    """The run detail's tabs: one TabBar (not Textual's ~16 TabbedContent widgets) that still
    shows each tab's content by click on its label, by left/right when focused, and by key."""
    from textual.widgets import ContentSwitcher

    from tui.widgets.tab_bar import TabBar

    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        app.open_run(RUNNING)
        await settle(pilot)
        bar = app.screen.query_one(TabBar)
        switcher = app.screen.query_one(ContentSwitcher)
        assert len(app.screen.query("TabBar *")) == 0 and not app.screen.query("TabbedContent")
        assert bar.render_line(0).text.split() == ["Curves", "Resources", "Evals", "Log", "Config"]
        start, _, tab = next(s for s in bar.spans() if s[2] == "evals")
        await pilot.click(TabBar, offset=(start + 2, 0))
        await settle(pilot)
        assert tab == bar.active == switcher.current == "evals"
        assert app.screen.query_one("#eval-table").display and not app.screen.query_one("#loss-plot").region
        bar.focus()
        await pilot.press("right")
        await settle(pilot)
        assert bar.active == switcher.current == "log"
        await pilot.press("left", "left", "left")
        await settle(pilot)
        assert bar.active == switcher.current == "curves"
        await pilot.press("y")
        await settle(pilot)
        assert bar.active == switcher.current == "config"


async def test_the_app_freezes_startup_objects_only_while_it_runs(make_app, settle):
    assert gc.get_freeze_count() == 0
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        assert gc.get_freeze_count() > 10_000  # modules, classes, the first screen
    assert gc.get_freeze_count() == 0  # handed back at exit: a closed app leaves nothing uncollectable


async def test_full_gc_passes_run_when_screens_close_not_while_they_open(make_app, settle):
    """A closed detail screen is cyclic garbage in the oldest generation (parents and children
    point at each other). The app runs the full GC pass due soon when a screen closes, once the
    screen below is repainted, instead of leaving CPython to run it inside the next open."""
    from tui.screens.run_detail import RunDetailScreen

    phase = ["idle"]
    full_passes: list[str] = []

    def spy(step: str, info: dict) -> None:
        if step == "stop" and info["generation"] == 2:
            full_passes.append(phase[0])

    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        gc.callbacks.append(spy)
        try:
            for _ in range(12):
                phase[0] = "open"
                app.open_run(RUNNING)
                await settle(pilot)
                assert isinstance(app.screen, RunDetailScreen)
                app.screen.refresh_data()
                await settle(pilot)
                phase[0] = "close"
                app.pop_screen()
                await settle(pilot)
        finally:
            gc.callbacks.remove(spy)
    assert "open" not in full_passes
    assert app.gc_passes >= 1 and full_passes.count("close") == app.gc_passes


async def test_no_gc_pass_runs_while_the_run_detail_builds_its_first_frame(make_app, settle):
    """The ~30k objects an open allocates nearly all live on: young collections on the way to the
    first frame would only walk and promote them. None runs before that frame; the GC is on again
    right after it."""
    from tui.screens.run_detail import RunDetailScreen

    passes: list[bool] = []  # per collection: was the detail screen painted already?
    painted: list[int] = []

    def spy(step: str, info: dict) -> None:
        if step == "start":
            passes.append(bool(painted))

    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        display = app._display

        def paint(screen, renderable) -> None:
            if renderable is not None and isinstance(screen, RunDetailScreen):
                painted.append(1)
            display(screen, renderable)

        app._display = paint
        gc.callbacks.append(spy)
        try:
            app.open_run(RUNNING)
            await settle(pilot)
            assert painted and gc.isenabled()
            gc.collect()  # one pass after the frame at least: the spy sees collections
        finally:
            gc.callbacks.remove(spy)
    assert passes and passes.count(False) == 0
