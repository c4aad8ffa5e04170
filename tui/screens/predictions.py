"""One evaluation's predictions: a virtualised table with filters, the example in full, and charts.

Opened with enter on a row of a run's Evals tab. Filters (wrong only, question type, answer, text
search) run on the whole pyarrow table at once (milliseconds for 100k rows); the side panel shows
the highlighted example: question, ground truth, top-5 bars (retrieval: the ranked list) and the
video with the `clpbert predict` command that would look at it again.
"""

from __future__ import annotations

import shlex
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Header, Input, Static
from textual.worker import WorkerCancelled, WorkerFailed

from tui import formatting as fmt
from tui.predictions_data import PredictionsView
from tui.widgets import prediction_charts as charts
from tui.widgets.key_footer import KeyFooter
from tui.widgets.predictions_table import PredictionsTable


class PredictionsScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("w", "toggle_wrong", "Wrong only"),
        Binding("t", "next_type", "Type"),
        Binding("a", "answer", "Same answer"),
        Binding("slash", "search", "Search"),
        Binding("x", "clear", "Clear filters"),
    ]
    DEFAULT_CSS = """
    PredictionsScreen #pred-summary { height: 2; padding: 0 1; }
    PredictionsScreen #pred-search { height: 3; }
    PredictionsScreen #pred-main { height: 1fr; }
    PredictionsScreen #pred-table { width: 2fr; }
    PredictionsScreen #pred-side { width: 1fr; min-width: 36; border-left: solid $panel; padding: 0 1; }
    PredictionsScreen #pred-chart { height: 9; padding: 0 1; border-top: solid $panel; }
    """

    def __init__(self, run_id: str, step: int | None = None, split: str | None = None) -> None:
        super().__init__()
        self.run_id, self.step, self.split = run_id, step, split
        self.view: PredictionsView | None = None
        self.wrong = False
        self.type: str | None = None
        self.answer: str | None = None
        self.text = ""
        self.types: list[str] = []
        self.matched = 0

    def compose(self) -> ComposeResult:
        # The file is read in a thread while the widgets are built; on_mount waits for it, so the
        # screen's first frame already shows the table.
        self._first_read = self.run_worker(self._read, thread=True, group="predictions",
                                           exit_on_error=False)
        yield Header()
        yield Static("loading predictions…", id="pred-summary")
        yield Input(placeholder="search question, answer, prediction or video (enter)", id="pred-search")
        with Horizontal(id="pred-main"):
            yield PredictionsTable(id="pred-table")
            with VerticalScroll(id="pred-side"):
                yield Static("", id="pred-example")
        yield Static("", id="pred-chart")
        yield KeyFooter()

    async def on_mount(self) -> None:
        self.sub_title = f"predictions {self.run_id}"
        try:
            view = await self._first_read.wait()
        except WorkerFailed as e:  # a UserError (no file, pruned): shown, never a crash
            self._failed(str(e.error))
            return
        except WorkerCancelled:
            return
        self._loaded(view)
        self.call_after_refresh(self._build_index, view)  # not competing with the first frame

    def _read(self) -> PredictionsView:
        from tui.predictions_data import load_predictions

        return load_predictions(self.app.data.registry, self.run_id, self.step, self.split)

    @work(thread=True, group="predictions-index")
    def _build_index(self, view: PredictionsView) -> None:
        """Right after the first paint: the search index, so that text searches get fast."""
        from clpbert.predictions import analysis

        view.index = analysis.search_index(view.table)

    def _failed(self, message: str) -> None:
        self.query_one("#pred-summary", Static).update(Text(message, style="red"))

    def _loaded(self, view: PredictionsView) -> None:
        self.view = view
        self.types = view.types
        self.apply_filters()
        self.query_one(PredictionsTable).focus()

    # -- filters ------------------------------------------------------------------------------

    def apply_filters(self) -> None:
        """Filter the whole table, show it from the top, redraw the summary and the chart."""
        from clpbert.predictions import analysis

        if self.view is None:
            return
        table = self.view.table
        charted = table.select(["type", "correct", "rank"])
        if self.wrong or self.type or self.answer or self.text:
            rows = analysis.filter_indices(table, wrong=self.wrong, type=self.type, answer=self.answer,
                                           text=self.text or None, index=self.view.index)
            self.matched = len(rows)
            self.query_one(PredictionsTable).show(table, rows)
            charted = charted.take(rows)
        else:  # every row, in file order: nothing to select or copy (what opening the screen shows)
            self.matched = table.num_rows
            self.query_one(PredictionsTable).show(table)
        self._summary()
        self._chart(charted)

    def _summary(self) -> None:
        v = self.view
        assert v is not None
        filters = [f for f in ("wrong only" if self.wrong else "", f"type {self.type}" if self.type else "",
                               f"answer {self.answer}" if self.answer else "",
                               f"search {self.text!r}" if self.text else "") if f]
        main = [k for k in v.metrics if not k.startswith(("eval_s", "n"))][:6]
        metrics = "   ".join(f"{k} {fmt.number(v.metrics[k])}" for k in main)
        text = Text.assemble((v.title, "bold"), f"   {v.task} ({v.kind})   {metrics}\n",
                             f"{self.matched} of {v.table.num_rows} examples",
                             (f"   filters: {', '.join(filters)}" if filters else "   no filter", "dim"))
        self.query_one("#pred-summary", Static).update(text, layout=False)  # fixed height: repaint only

    def _chart(self, shown: Any) -> None:
        from clpbert.predictions import analysis

        v = self.view
        assert v is not None
        if v.kind == "retrieval":
            named = []
            for direction in ("t2v", "v2t"):
                rows = analysis.filter_table(shown, type=direction)
                ranks = [r for r in rows["rank"].to_pylist() if r is not None]
                if ranks:
                    named.append((f"{direction}: rank of the ground truth", analysis.rank_histogram(ranks)))
            out = charts.histograms(named)
        else:
            out = Text("right per type (shown rows)\n", style="bold")
            out.append_text(charts.type_accuracy(analysis.accuracy_by_type(shown)))
        self.query_one("#pred-chart", Static).update(out, layout=False)  # fixed height: repaint only

    def action_toggle_wrong(self) -> None:
        self.wrong = not self.wrong
        self.apply_filters()

    def action_next_type(self) -> None:
        """Cycle: all types -> each type -> all."""
        options = [None, *self.types]
        self.type = options[(options.index(self.type) + 1) % len(options)] if self.type in options else None
        self.apply_filters()

    def action_answer(self) -> None:
        """Only rows with the highlighted row's ground truth (again: all answers)."""
        row = self.query_one(PredictionsTable).cursor
        self.answer = None if self.answer is not None or row is None else row.get("answer")
        self.apply_filters()

    def action_search(self) -> None:
        self.query_one("#pred-search", Input).focus()

    def action_clear(self) -> None:
        self.wrong, self.type, self.answer, self.text = False, None, None, ""
        self.query_one("#pred-search", Input).value = ""
        self.apply_filters()

    def action_back(self) -> None:
        search = self.query_one("#pred-search", Input)
        if search.has_focus:
            self.query_one(PredictionsTable).focus()
        else:
            self.app.pop_screen()

    @on(Input.Submitted, "#pred-search")
    def _searched(self, event: Input.Submitted) -> None:
        self.text = event.value.strip()
        self.apply_filters()
        self.query_one(PredictionsTable).focus()

    # -- the example --------------------------------------------------------------------------

    @on(PredictionsTable.Highlighted)
    def _highlighted(self, event: PredictionsTable.Highlighted) -> None:
        self.query_one("#pred-example", Static).update(self.example_text(event.row))

    def example_text(self, row: dict[str, Any] | None) -> Text:
        v = self.view
        if row is None or v is None:
            return Text("no example", style="dim")
        ok = row.get("correct")
        out = Text.assemble((f"{row['example_id']}", "bold"), f"   {row.get('type') or '-'}   ",
                            ("right" if ok else "wrong", "green" if ok else "red"),
                            f"   rank {row['rank'] if row.get('rank') is not None else '-'}\n\n")
        if row.get("text"):
            out.append(f"{row['text']}\n\n", style="italic")
        out.append("ground truth  ")
        out.append(f"{row.get('answer')}\n", style="bold")
        out.append("predicted     ")
        out.append(f"{row.get('pred')}", style="bold green" if ok else "bold red")
        out.append(f"  ({fmt.number(row.get('score'))})\n\n")
        candidates = row.get("candidates") or []
        if candidates:
            titles = {"t2v": "ranked videos", "v2t": "ranked captions"}
            what = "options" if v.kind == "mc" else titles.get(row.get("type") or "", "top answers")
            out.append(f"{what}\n", style="bold")
            out.append_text(charts.scored(candidates, row.get("candidate_scores") or [],
                                          mark=row.get("answer")))
        out.append_text(self._video_text(row))
        return out

    def _video_text(self, row: dict[str, Any]) -> Text:
        v = self.view
        assert v is not None
        key = row.get("video_key")
        out = Text(f"\nvideo {key or '-'}\n", style="bold")
        path = v.video_file(key)
        if path is None:
            out.append("  no file beside the vis_db (the video is inside the LMDB)\n", style="dim")
            return out
        out.append(f"  {fmt.short_path(str(path))}\n")
        cmd = ["clpbert", "predict", "--ckpt", v.run_id, "--video", str(path)]
        if v.kind in ("qa", "mc") and row.get("text"):
            cmd += ["--question", str(row["text"])]
        if v.kind == "mc":
            cmd += ["--options", "|".join(row.get("candidates") or [])]
        out.append("  " + shlex.join(cmd) + "\n", style="dim")
        return out
