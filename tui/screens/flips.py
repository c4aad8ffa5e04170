"""Two runs' flips: the examples right in one and wrong in the other, counted per question type.

Opened with `f` on the compare screen of exactly two runs; each run's latest saved predictions of
the same split are matched by (type, example id).
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static

from tui.predictions_data import FlipsView
from tui.widgets import prediction_charts as charts
from tui.widgets.key_footer import KeyFooter

MAX_LISTED = 5000
"""Flipped examples listed (the counts always cover all of them)."""


class FlipsScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "app.pop_screen", "Back")]
    DEFAULT_CSS = """
    FlipsScreen #flips-summary { height: auto; padding: 0 1; }
    FlipsScreen #flips-main { height: 1fr; }
    FlipsScreen #flips-table { width: 2fr; }
    FlipsScreen #flips-side { width: 1fr; min-width: 34; border-left: solid $panel; padding: 0 1; }
    """

    def __init__(self, run_a: str, run_b: str) -> None:
        super().__init__()
        self.run_a, self.run_b = run_a, run_b
        self.view: FlipsView | None = None
        self.listed: list[tuple[str, dict[str, Any], dict[str, Any]]] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("loading predictions…", id="flips-summary")
        with Horizontal(id="flips-main"):
            yield DataTable(id="flips-table", cursor_type="row", zebra_stripes=True)
            with VerticalScroll(id="flips-side"):
                yield Static("", id="flips-example")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = f"flips {self.run_a} → {self.run_b}"
        self.load()

    @work(thread=True, exclusive=True, group="flips")
    def load(self) -> None:
        from tui.predictions_data import load_flips

        try:
            view = load_flips(self.app.data.registry, self.run_a, self.run_b)
        except Exception as e:  # no saved predictions: say so
            summary = self.query_one("#flips-summary", Static)
            self.app.call_from_thread(summary.update, Text(str(e), style="red"))
            return
        self.app.call_from_thread(self._show, view)

    def _show(self, view: FlipsView) -> None:
        self.view = view
        f = view.flips
        counts = f.counts()
        text = Text.assemble(("A ", "bold"), view.a.title, ("   B ", "bold"), view.b.title,
                             f"\n{counts['common']} examples in both: ",
                             (f"{counts['fixed']} fixed", "green"), " (wrong in A, right in B), ",
                             (f"{counts['broken']} broken", "red"), " (right in A, wrong in B)\n")
        per_type = counts["per_type"]
        if per_type:
            top = max(max(v["fixed"], v["broken"]) for v in per_type.values()) or 1
            width = max(len(t) for t in per_type)
            for t, v in per_type.items():
                text.append(f"{t:<{width}} fixed ")
                text.append(charts.bar(v["fixed"] / top, 16), style="green")
                text.append(f" {v['fixed']:<4} broken ")
                text.append(charts.bar(v["broken"] / top, 16), style="red")
                text.append(f" {v['broken']}\n")
        self.query_one("#flips-summary", Static).update(text)
        self.listed = ([("fixed", a, b) for a, b in f.fixed] + [("broken", a, b) for a, b in f.broken])[
            :MAX_LISTED]
        table = self.query_one("#flips-table", DataTable)
        table.add_columns("Change", "ID", "Type", "Question / text", "Answer", "A predicted", "B predicted")
        for change, a, b in self.listed:
            table.add_row(Text(change, style="green" if change == "fixed" else "red"), b["example_id"],
                          b.get("type") or "-", _cut(b.get("text"), 34), _cut(b.get("answer"), 14),
                          _cut(a.get("pred"), 14), _cut(b.get("pred"), 14))
        table.focus()

    @on(DataTable.RowHighlighted, "#flips-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if 0 <= event.cursor_row < len(self.listed):
            change, a, b = self.listed[event.cursor_row]
            out = Text.assemble((f"{b['example_id']}", "bold"), f"   {b.get('type') or '-'}   ",
                                (change, "green" if change == "fixed" else "red"), "\n\n")
            if b.get("text"):
                out.append(f"{b['text']}\n\n", style="italic")
            out.append(f"ground truth  {b.get('answer')}\n", style="bold")
            for name, row in (("A", a), ("B", b)):
                style = "green" if row.get("correct") else "red"
                out.append(f"\n{name} predicted {row.get('pred')}", style=style)
                out.append(f"  (rank {row.get('rank') if row.get('rank') is not None else '-'})\n")
                if row.get("candidates"):
                    out.append_text(charts.scored(row["candidates"], row.get("candidate_scores") or [],
                                                  mark=b.get("answer")))
            self.query_one("#flips-example", Static).update(out)


def _cut(value: Any, width: int) -> str:
    text = "-" if value is None else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"
