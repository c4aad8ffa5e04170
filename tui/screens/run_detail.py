"""One run: live curves, its resources (step time split, process tree, GPUs), eval table, log
tail and resolved config, in tabs.

The refresh worker asks the registry only for what is new: metric rows with an id above the last
one seen (`metrics_since`), evals after the last eval id, and the run row itself. The first load
takes each metric's downsampled series instead, so a run with millions of points opens fast.
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import ClassVar, TypeVar

from rich.syntax import Syntax
from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import ContentSwitcher, DataTable, Header, Label, SelectionList, Static
from textual.worker import get_current_worker

from clpbert.gpu.readings import GpuSnapshot
from clpbert.train import init_source
from tui import formatting as fmt
from tui.data import DetailUpdate, RunInfo
from tui.widgets.eval_table import EvalTable
from tui.widgets.gpu_panel import GpuPanel
from tui.widgets.key_footer import KeyFooter
from tui.widgets.log_view import LogView
from tui.widgets.loss_plot import LossPlot, MetricStore, default_selection, is_lr
from tui.widgets.resources import ResourcesSummary
from tui.widgets.tab_bar import TabBar

T = TypeVar("T")
TABS = [("curves", "Curves"), ("gpus", "Resources"), ("evals", "Evals"), ("log", "Log"), ("config", "Config")]
"""(id, label) of each tab, in order: the TabBar's labels and the ContentSwitcher's pane ids."""
MIN_PLOT_BUCKETS = 64


def first_read_thread(read: Callable[[], T]) -> Future[T]:
    """`read()` in a thread started now, in this context (the active app). A Textual worker starts
    its thread from a task the event loop runs once the screen's compose and mounts yield, ~20 ms
    into an open; the first read is on the path to the first frame, so it starts with compose."""
    future: Future[T] = Future()
    context = contextvars.copy_context()

    def run() -> None:
        if not future.set_running_or_notify_cancel():  # the screen closed before the thread ran
            return
        try:
            result = context.run(read)
        except BaseException as e:  # handed to the awaiting on_mount
            future.set_exception(e)
        else:
            future.set_result(result)

    threading.Thread(target=run, name="run-detail-first-read", daemon=True).start()
    return future


def plot_buckets(terminal_width: int) -> int:
    """Step buckets (with min/max) asked of the registry per metric: one per cell column of the
    terminal, so at least one per column of the plot, which draws each column's min and max. No
    more: past 200k points the registry reads a bucket in 8 index seeks, and the first read is on
    the path to the screen's first frame with curves (512 buckets took 3x as long as 160)."""
    return max(MIN_PLOT_BUCKETS, terminal_width)


class RunDetailScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("p", "tab('curves')", "Curves"),
        Binding("g", "tab('gpus')", "Resources"),
        Binding("e", "tab('evals')", "Evals"),
        Binding("t", "tab('log')", "Log tail"),
        Binding("y", "tab('config')", "Config"),
        Binding("l", "log_scale", "Log scale"),
        Binding("f", "follow", "Follow log"),
        Binding("s", "stop", "Stop"),
        Binding("k", "kill", "Kill"),
        Binding("r", "resume", "Resume"),
        Binding("ctrl+r", "refresh", "Refresh", show=False),
    ]

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.store = MetricStore(max_points=MIN_PLOT_BUCKETS)  # sized to the terminal on mount
        self.info: RunInfo | None = None
        self.after_metric_id: int | None = None
        self.after_eval_id: int | None = None
        self.selected: list[str] | None = None
        self.log_scale = False
        self._summary_markup = ""
        self._tabs_ready = False
        self._resumed = False
        self._gc_paused = False
        self._tab_updates: list[tuple[DetailUpdate, GpuSnapshot | None]] = []
        """Updates that arrived before the other tabs' widgets were mounted, replayed in order."""

    def compose(self) -> ComposeResult:
        # The first read starts now, in a thread, so it runs while the widgets are built; on_mount
        # waits for it, so the screen's first frame already shows the curves.
        self.store.max_points = plot_buckets(self.app.size.width)
        self._first_read = first_read_thread(self._read)
        self.pause_gc()  # already paused by the app's open_run; a screen pushed another way pauses here
        yield Header()
        yield Static("", id="run-summary")
        yield TabBar(TABS, "curves", id="run-tab-bar")
        with ContentSwitcher(id="run-tabs", initial="curves"):
            with Horizontal(id="curves"):
                yield SelectionList[str](id="metric-select")
                with Vertical(id="plots"):
                    yield LossPlot(self.store, "loss", id="loss-plot")
                    yield LossPlot(self.store, "learning rate", id="lr-plot")
            # The other tabs' widgets are mounted right after the curves are painted (_mount_tabs):
            # the first frame then styles and lays out half as many widgets.
            yield Container(id="gpus")
            yield Container(id="evals")
            yield Container(id="log")
            yield Container(id="config")
        yield KeyFooter()

    def _on_screen_resume(self, event: events.ScreenResume) -> None:
        """Its first resume follows its mount at once: every widget was styled when it was
        mounted, so restyling the whole screen again (Textual's default on resume, a third of
        the CSS work of an open) changes nothing. Later resumes (after a dialog, a theme switch
        while covered) restyle as usual. Runs before Screen's own handler (the MRO order)."""
        if not self._resumed:
            self._resumed = True
            event.refresh_styles = False

    async def on_mount(self) -> None:
        self.sub_title = f"run {self.run_id}"
        try:
            result = await asyncio.wrap_future(self._first_read)
            if self._gone():  # esc while the first read ran: its widgets are going away
                return
            self._apply(*result)
        except Exception:  # read again the usual way (its error is shown)
            if self._gone():
                return
            self.refresh_data()
        finally:
            self.call_after_refresh(self._resume_gc)
        self.set_interval(self.app.refresh_s, self._tick)

    def _gone(self) -> bool:
        """Popped and being removed (or gone): what an update would touch may not exist any more."""
        return self._pruning or self._closing or not self.is_attached

    def on_unmount(self) -> None:
        self._resume_gc()  # closed before its first frame

    def pause_gc(self) -> None:
        """No cyclic GC until the first frame: building the screen allocates ~30k objects that nearly
        all live on, and young collections (~40 and 4 middle passes per open) would only walk and
        promote them on the way to the frame. Called by the app right before the screen is pushed,
        so allocations between the push and compose (any thread's) cannot start a pass either. Back
        on right after the first frame (_resume_gc), or when the screen is unmounted."""
        if not self._gc_paused and gc.isenabled():
            self._gc_paused = True
            gc.disable()

    def _resume_gc(self) -> None:
        if self._gc_paused:
            self._gc_paused = False
            gc.enable()

    def _tick(self) -> None:
        if self.is_current:
            self.refresh_data()

    def action_refresh(self) -> None:
        self.refresh_data()

    # -- loading ------------------------------------------------------------------------------

    def _read(self) -> tuple[DetailUpdate, GpuSnapshot | None]:
        """First call: the run, downsampled series, evals, config. Later: only what is new."""
        data = self.app.data
        update = data.detail_update(self.run_id, self.after_metric_id, self.after_eval_id,
                                    max_points=self.store.max_points)
        snapshot = data.gpu_snapshot() if update.info is not None and update.info.gpus else None
        return update, snapshot

    @work(thread=True, exclusive=True, group="run-detail")
    def refresh_data(self) -> None:
        update, snapshot = self._read()
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._apply, update, snapshot)

    def _apply(self, update: DetailUpdate, snapshot: GpuSnapshot | None) -> None:
        if self._gone():  # a read that finished after esc
            return
        first = self.after_metric_id is None
        if update.info is None:
            self.query_one("#run-summary", Static).update(Text(f"run {self.run_id} not found", style="red"))
            return
        self.info = update.info
        summary = self._summary(update.info)
        if summary.markup != self._summary_markup:
            self._summary_markup = summary.markup
            # its height is fixed (app.tcss): no layout pass of the whole screen per live refresh
            self.query_one("#run-summary", Static).update(summary, layout=False)
        for name, points in update.series.items():
            self.store.extend(name, points)
        self.after_metric_id = update.after_metric_id
        self.after_eval_id = update.after_eval_id
        if first:
            self._init_selection()
            self._replot()
            self.call_after_refresh(self._mount_tabs)
        elif update.series:
            self._add_new_metric_names()
            self._replot(changed=set(update.series))
        if self._tabs_ready:
            self._apply_tabs(update, snapshot, first=False)
        else:
            self._tab_updates.append((update, snapshot))

    async def _mount_tabs(self) -> None:
        """Resources, evals, log and config: mounted once the curves are on screen, then filled
        with every update received so far."""
        if self._gone():  # closed before its first frame
            return
        try:
            await self._mount_tab_widgets()
        except NoMatches:
            if self._gone():  # closed while they were mounted: they went with it
                return
            raise

    async def _mount_tab_widgets(self) -> None:
        mounts = [
            self.query_one("#gpus", Container).mount(
                VerticalScroll(ResourcesSummary(id="resources"), Label("", id="gpu-note"), id="gpu-panels")),
            self.query_one("#evals", Container).mount(EvalTable(id="eval-table")),
            self.query_one("#log", Container).mount(LogView(id="log-view")),
            self.query_one("#config", Container).mount(VerticalScroll(Static("", id="config-text"))),
        ]
        for mounted in mounts:
            await mounted
        if self._gone():
            return
        self._tabs_ready = True
        for i, (update, snapshot) in enumerate(self._tab_updates):
            self._apply_tabs(update, snapshot, first=i == 0)
        self._tab_updates.clear()

    def _apply_tabs(self, update: DetailUpdate, snapshot: GpuSnapshot | None, first: bool) -> None:
        assert update.info is not None
        if first:
            self.query_one("#config-text", Static).update(
                Syntax(update.info.config_yaml, "yaml", theme="ansi_dark", background_color="default"))
            self._build_gpu_panels(update.info)
            self.query_one(LogView).set_path(update.info.train_log)
        if update.evals:
            self.query_one(EvalTable).add_evals(update.evals)
        self.query_one(ResourcesSummary).show(self.store, update.process_samples)
        self._update_gpus(update, snapshot)

    def _summary(self, info: RunInfo) -> Text:
        now = self.app.clock()
        live = info.state in fmt.LIVE_STATES
        eta = fmt.eta(info.step, info.total_steps, info.started, now) if live else None
        best = "-" if info.best_value is None else f"{info.best_name} {fmt.number(info.best_value)}"
        text = Text.assemble(
            (f"{info.name} ", "bold"), (f"({info.id}) ", "dim"), (info.state, fmt.state_style(info.state)),
            f"   task {info.task}   dataset {info.dataset or '-'}"
            f"   step {fmt.progress(info.step, info.total_steps)}   ETA {fmt.duration(eta)}"
            f"   best {best}   loss {fmt.number(info.latest_loss)}",
        )
        gpus = ", ".join(str(g.get("index", "?")) for g in info.gpus) or "CPU"
        started = "-" if info.started is None else fmt.duration(now - info.started) + " ago"
        host = "this host" if info.on_this_host else info.host or "-"
        text.append(f"\nGPUs {gpus}   started {started}   host {host}   dir {fmt.short_path(info.run_dir)}")
        if info.tags:
            text.append(f"   tags {', '.join(info.tags)}")
        if info.job:
            text.append(f"\n{info.job}")
        if init_source.is_random(info.config):
            text.append("\ninit: random weights (--init none)", style="yellow")
        if info.reason:
            text.append(f"\nreason: {info.reason}", style="yellow")
        if info.notes:
            first, *rest = info.notes.strip().splitlines() or [""]
            text.append(f"\nnotes: {first}" + (" …" if rest else ""), style="italic")
        return text

    # -- curves -------------------------------------------------------------------------------

    def _metric_names(self) -> list[str]:
        return [n for n in self.store.names() if not is_lr(n)]

    def _init_selection(self) -> None:
        names = self._metric_names()
        chosen = default_selection(names) or names[:1]
        self.selected = chosen
        select = self.query_one("#metric-select", SelectionList)
        select.clear_options()
        select.add_options([(n, n, n in chosen) for n in names])

    def _add_new_metric_names(self) -> None:
        select = self.query_one("#metric-select", SelectionList)
        known = {select.get_option_at_index(i).value for i in range(select.option_count)}
        new = [n for n in self._metric_names() if n not in known]
        if new:
            select.add_options([(n, n, False) for n in new])

    @on(SelectionList.SelectedChanged, "#metric-select")
    def _selection_changed(self, event: SelectionList.SelectedChanged) -> None:
        selected = list(event.selection_list.selected)
        if selected != self.selected:  # filling the list on first load changes nothing
            self.selected = selected
            self._replot()

    def _replot(self, changed: set[str] | None = None) -> None:
        """Redraw the plots showing a changed series (all of them when `changed` is None)."""
        lrs = [n for n in self.store.names() if is_lr(n)]
        plots = (("#loss-plot", self.selected or [], self.log_scale), ("#lr-plot", lrs, None))
        for plot_id, names, log in plots:
            if changed is None or changed & set(names):
                self.query_one(plot_id, LossPlot).show(names, log)

    def action_log_scale(self) -> None:
        self.log_scale = not self.log_scale
        self._replot()

    # -- GPUs ---------------------------------------------------------------------------------

    def _build_gpu_panels(self, info: RunInfo) -> None:
        container = self.query_one("#gpu-panels", VerticalScroll)
        note = self.query_one("#gpu-note", Label)
        if not info.gpus:
            note.update("This run uses no GPU (CPU run).")
            return
        note.display = False
        container.mount_all(GpuPanel(int(g.get("index", i)), id=f"gpu-panel-{i}")
                            for i, g in enumerate(info.gpus))

    def _update_gpus(self, update: DetailUpdate, snapshot: GpuSnapshot | None) -> None:
        """Live NVML readings when the run is live on this host; else its last registry sample."""
        if self.info is None:
            return
        live = self.info.state in fmt.LIVE_STATES and self.info.on_this_host
        for i, gpu in enumerate(self.info.gpus):
            panels = self.query(f"#gpu-panel-{i}")
            if not panels:
                continue
            panel = panels.first(GpuPanel)
            reading, reason = None, ""
            if live and snapshot is not None:
                reading = (snapshot.by_uuid(gpu["uuid"]) if gpu.get("uuid") else None) or \
                    snapshot.by_index(int(gpu.get("index", -1)))
                reason = snapshot.reason or "this GPU is not in the NVML list"
            if reading is None:
                reading = update.last_samples.get(gpu.get("uuid") or "")
                if reading is None and not reason:
                    reason = ("run is not live on this host; no GPU sample recorded"
                              if not live else "no NVML reading")
            if update.gpu_history.get(gpu.get("uuid") or "") and not panel.temps:
                temps, utils = update.gpu_history[gpu["uuid"]]
                panel.seed_history(temps, utils)
            panel.update_reading(reading, missing_reason=reason)

    # -- other tabs ---------------------------------------------------------------------------

    def action_tab(self, tab: str) -> None:
        self.query_one(TabBar).active = tab

    @on(TabBar.Changed)
    def _switch(self, event: TabBar.Changed) -> None:
        self.query_one(ContentSwitcher).current = event.tab

    @on(DataTable.RowSelected, "#eval-table")
    def _open_predictions(self, event: DataTable.RowSelected) -> None:
        """enter on an eval row: that evaluation's saved predictions."""
        from tui.screens.predictions import PredictionsScreen

        step, _, split = str(event.row_key.value).partition(":")
        self.app.push_screen(PredictionsScreen(self.run_id, int(step), split))

    def action_follow(self) -> None:
        if not self._tabs_ready:
            return
        log = self.query_one(LogView)
        log.follow = not log.follow
        self.notify(f"follow log: {'on' if log.follow else 'off'}")

    def _run_action(self, verb: str, allowed: tuple[str, ...]) -> None:
        from tui.screens.confirm import ConfirmScreen

        if self.info is None or self.info.state not in allowed:
            self.notify(f"cannot {verb} a run that is {self.info.state if self.info else 'unknown'}",
                        severity="warning")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._act(verb)

        if verb == "resume":
            self._act(verb)
        else:
            question = f"{verb.capitalize()} run {self.info.name}?"
            self.app.push_screen(ConfirmScreen(question, yes=verb.capitalize()), answered)

    @work(thread=True, group="run-actions")
    def _act(self, verb: str) -> None:
        try:
            getattr(self.app.data, f"{verb}_run")(self.run_id)
            self.app.call_from_thread(self.notify, f"{verb}: {self.run_id}")
        except Exception as e:  # shown, never crashes the UI
            self.app.call_from_thread(self.notify, f"{verb} failed: {e}", severity="error")
        self.app.call_from_thread(self.refresh_data)

    def action_stop(self) -> None:
        self._run_action("stop", fmt.STOPPABLE_STATES)

    def action_kill(self) -> None:
        self._run_action("kill", fmt.KILLABLE_STATES)

    def action_resume(self) -> None:
        self._run_action("resume", fmt.RESUMABLE_STATES)
