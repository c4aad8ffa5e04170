"""The clpbert Textual app: four top-level screens (modes) over one registry.

    runs (1)  datasets (2)  checkpoints (3)  gpus (4)      run detail / compare / dialogs pushed on top

Every registry and NVML read runs in a thread worker (the screens' `refresh_*` methods); the UI
thread only formats and paints. `clock` is injectable so tests and snapshots see a fixed "now".
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import ClassVar

from textual import work
from textual.app import App, SystemCommand
from textual.await_complete import AwaitComplete
from textual.binding import Binding, BindingType
from textual.screen import Screen

from tui.data import TuiData
from tui.screens.checkpoints import CheckpointsScreen
from tui.screens.datasets import DatasetsScreen
from tui.screens.gpus import GpusScreen
from tui.screens.runs import RunsScreen

MODE_KEYS = {"1": "runs", "2": "datasets", "3": "checkpoints", "4": "gpus"}
RECONCILE_EVERY_S = 30.0
"""How often an open TUI marks runs with a dead supervisor `lost` (and offers the retention slice)."""


class ClpbertApp(App[None]):
    """`clpbert tui`."""

    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute: subclasses elsewhere find it too
    TITLE = "clpbert"
    MODES: ClassVar[dict[str, type[Screen]]] = {  # type: ignore[assignment]
        "runs": RunsScreen, "datasets": DatasetsScreen, "checkpoints": CheckpointsScreen, "gpus": GpusScreen,
    }
    DEFAULT_MODE = "runs"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit", priority=True),
        Binding("f1,question_mark", "help", "Help", key_display="F1/?"),
        Binding("1", "switch_mode('runs')", "Runs"),
        Binding("2", "switch_mode('datasets')", "Datasets"),
        Binding("3", "switch_mode('checkpoints')", "Checkpoints"),
        Binding("4", "switch_mode('gpus')", "GPUs"),
        Binding("ctrl+t", "toggle_dark", "Light/dark"),
    ]

    def __init__(self, data: TuiData | None = None, *, clock: Callable[[], float] = time.time,
                 refresh_s: float = 1.0, start_run: str | None = None,
                 reconcile_s: float = RECONCILE_EVERY_S) -> None:
        """`reconcile_s` <= 0 turns the periodic reconcile off (fixture registries with made-up runs)."""
        super().__init__()
        self.data = data if data is not None else TuiData.open()
        self.clock = clock
        self.refresh_s = refresh_s
        self.start_run = start_run
        self.reconcile_s = reconcile_s
        self.gc_passes = 0
        """Full collections run by the app itself (`pop_screen`)."""

    def on_mount(self) -> None:
        # What is alive now (modules, classes, the first screen: ~250k objects) lives as long as the
        # app. Frozen, the cyclic GC's full passes skip it; unfrozen, one such pass took 0.2-0.4 s
        # on a busy 2-core machine and landed inside screen opens, where widgets allocate the most.
        gc.freeze()
        if self.reconcile_s > 0:
            self.set_interval(self.reconcile_s, self._reconcile)
        if self.start_run:
            self.open_run(self.start_run)

    def on_unmount(self) -> None:
        gc.unfreeze()  # an app that ends (tests start dozens) leaves nothing uncollectable behind

    def pop_screen(self) -> AwaitComplete:
        """A closed screen (a run's detail: dozens of widgets, thousands of styles and strips,
        parents and children pointing at each other) is garbage in the oldest generation. With the
        startup objects frozen that generation is small, so the cyclic GC's own full pass came
        every 2-3 run-detail opens and landed inside one (60-400 ms on a busy 2-core machine).
        When the next open could set one off, it runs here instead (`_collect_garbage`)."""
        popped = super().pop_screen()
        self.call_after_refresh(self._collect_garbage)
        return popped

    def _collect_garbage(self) -> None:
        """The full pass the next open would set off, run now (once the screen below is painted):
        CPython runs one after `threshold[2]` middle passes, and an open with its first refresh
        makes 3-5 of them. As often as CPython would run it, but while the user reads a screen."""
        if gc.get_count()[2] >= gc.get_threshold()[2] // 2:
            self.gc_passes += 1
            gc.collect()

    @work(thread=True, exclusive=True, group="reconcile", exit_on_error=False)
    def _reconcile(self) -> None:
        """Off the UI thread; the screens' next refresh shows what changed. A failed pass (registry
        locked, unreachable) is retried at the next tick rather than closing the app."""
        lost = self.data.reconcile()
        if lost:
            names = ", ".join(lost)
            self.call_from_thread(self.notify, f"lost (supervisor gone): {names}", severity="warning")

    def action_help(self) -> None:
        from tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def action_toggle_dark(self) -> None:
        self.theme = "textual-light" if self.current_theme.dark else "textual-dark"

    def open_run(self, run_id: str) -> None:
        from tui.screens.run_detail import RunDetailScreen

        screen = RunDetailScreen(run_id)
        screen.pause_gc()  # from the push to its first frame (RunDetailScreen.pause_gc)
        self.push_screen(screen)

    def compare_runs(self, run_ids: list[str]) -> None:
        from tui.screens.compare import CompareScreen

        self.push_screen(CompareScreen(run_ids))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for key, mode in MODE_KEYS.items():
            yield SystemCommand(f"Go to {mode}", f"Show the {mode} screen (key {key})",
                                lambda mode=mode: self.switch_mode(mode))
        yield SystemCommand("Light/dark theme", "Toggle between textual-light and textual-dark",
                            self.action_toggle_dark)
        yield SystemCommand("Help", "Every key of this screen", self.action_help)
