"""Two or more runs side by side: one metric overlaid, their summaries, and config differences."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Header, Select, Static

from clpbert.app.compare import config_differences
from tui import formatting as fmt
from tui.data import CompareData
from tui.widgets.key_footer import KeyFooter
from tui.widgets.loss_plot import LossPlot, MetricStore


class CompareScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("l", "log_scale", "Log scale"),
        Binding("f", "flips", "Flips"),
    ]

    def __init__(self, run_ids: list[str]) -> None:
        super().__init__()
        self.run_ids = run_ids
        self.store = MetricStore(max_points=1000)
        self.metric = "train/loss"
        self.log_scale = False
        self.data: CompareData | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="compare-top"):
            yield Select[str]([], prompt="metric", id="compare-metric", allow_blank=True)
        yield LossPlot(self.store, "loss", id="compare-plot")
        with Vertical(id="compare-bottom"):
            yield DataTable(id="compare-table", cursor_type="row")
            yield Static("", id="compare-diff")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = "compare " + ", ".join(self.run_ids)
        self.load(self.metric)

    @work(thread=True, exclusive=True, group="compare")
    def load(self, metric: str) -> None:
        data = self.app.data.compare(self.run_ids, metric, self.store.max_points)
        self.app.call_from_thread(self._show, data)

    def _show(self, data: CompareData) -> None:
        first = self.data is None
        self.data = data
        self.store.series.clear()
        labels = []
        for info in data.infos:
            label = f"{info.name} ({info.id})"
            self.store.extend(label, data.series.get(info.id, []))
            labels.append(label)
        if first and data.metric not in data.metric_names and data.metric_names:
            self.metric = data.metric_names[0]
            self.load(self.metric)
        plot = self.query_one(LossPlot)
        plot.title = data.metric
        plot.show(labels, self.log_scale)
        if first:
            select = self.query_one("#compare-metric", Select)
            select.set_options([(n, n) for n in data.metric_names])
            if data.metric in data.metric_names:
                select.value = data.metric
            table = self.query_one("#compare-table", DataTable)
            table.add_columns("Run", "Task", "State", "Step", "Loss", "Best")
            for info in data.infos:
                best = "-" if info.best_value is None else f"{info.best_name}={fmt.number(info.best_value)}"
                state = Text(info.state, fmt.state_style(info.state))
                table.add_row(f"{info.name} ({info.id})", info.task, state,
                              fmt.progress(info.step, info.total_steps), fmt.number(info.latest_loss), best)
            diff = config_differences({i.id: i.config for i in data.infos})
            text = Text("config differences\n", style="bold")
            for key, values in list(diff.items())[:40]:
                text.append(f"  {key}: " + "  ".join(f"{r}={v}" for r, v in values.items()) + "\n")
            if not diff:
                text.append("  (none: same resolved config)")
            self.query_one("#compare-diff", Static).update(text)

    @on(Select.Changed, "#compare-metric")
    def _metric_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str) and event.value != self.metric:
            self.metric = event.value
            self.load(event.value)

    def action_flips(self) -> None:
        """The examples that flipped between the two runs (their latest saved predictions)."""
        from tui.screens.flips import FlipsScreen

        if len(self.run_ids) != 2:
            self.notify("the flip view compares exactly two runs", severity="warning")
            return
        self.app.push_screen(FlipsScreen(*self.run_ids))

    def action_log_scale(self) -> None:
        self.log_scale = not self.log_scale
        self.query_one(LossPlot).show(self.query_one(LossPlot).names, self.log_scale)
