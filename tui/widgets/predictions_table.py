"""A virtualised predictions table over a pyarrow Table: only the visible rows become Python dicts.

Why not DataTable: adding 100k rows to a DataTable takes seconds; here the widget knows the row
count (for the scrollbar) and converts a window of rows around the viewport on demand, so opening
and re-filtering cost the same whatever the number of examples.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tui.widgets.cursor_rows import CURSOR_BINDINGS, CursorRows
from tui.widgets.runs_table import _fit

# (column, header, width, right-aligned)
COLUMNS: tuple[tuple[str, str, int, bool], ...] = (
    ("correct", " ", 1, False),
    ("example_id", "ID", 8, False),
    ("type", "Type", 6, False),
    ("text", "Question / text", 28, False),
    ("answer", "Answer", 12, False),
    ("pred", "Predicted", 12, False),
    ("score", "Score", 6, True),
    ("rank", "Rank", 4, True),
)
GAP = 1
TABLE_WIDTH = sum(c[2] for c in COLUMNS) + GAP * (len(COLUMNS) - 1)
WINDOW = 200
"""Rows converted per window (a screen or two, plus margin)."""


def cell_text(key: str, value: Any) -> str:
    if key == "correct":
        return "-" if value is None else ("✓" if value else "✗")
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


class PredictionsTable(CursorRows, ScrollView, can_focus=True):
    """Prediction rows with a fixed header and a cursor; `show(table)` swaps the (filtered) rows."""

    BINDINGS: ClassVar[list[BindingType]] = [*CURSOR_BINDINGS]
    COMPONENT_CLASSES: ClassVar[set[str]] = {"predictions-table--header", "predictions-table--cursor",
                                             "predictions-table--wrong", "predictions-table--right"}
    DEFAULT_CSS = """
    PredictionsTable { height: 1fr; background: $surface; }
    PredictionsTable > .predictions-table--header { text-style: bold; background: $panel; }
    PredictionsTable > .predictions-table--cursor {
        background: $block-cursor-background; color: $block-cursor-foreground;
    }
    PredictionsTable:blur > .predictions-table--cursor { background: $block-cursor-blurred-background; }
    PredictionsTable > .predictions-table--wrong { color: $error; }
    PredictionsTable > .predictions-table--right { color: $success; }
    """

    cursor_row: reactive[int] = reactive(0, repaint=False)

    class Highlighted(Message):
        def __init__(self, row: dict[str, Any] | None) -> None:
            super().__init__()
            self.row = row

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.table: Any = None
        self.indices: Any = None
        self.total = 0
        self._offset = 0
        self._rows: list[dict[str, Any]] = []
        self._styles: dict[str, Style] | None = None

    def show(self, table: Any, indices: Any = None) -> None:
        """Show rows `indices` (a pyarrow int array, e.g. analysis.filter_indices) of `table`, or all
        of it, from the top."""
        self.table, self.indices = table, indices
        self.total = table.num_rows if indices is None else len(indices)
        self._offset, self._rows = 0, []
        self.virtual_size = Size(TABLE_WIDTH, self.total + 1)
        self.scroll_to(y=0, animate=False, immediate=True)
        self.cursor_row = 0
        self.refresh()
        self.post_message(self.Highlighted(self.cursor))

    def row(self, index: int) -> dict[str, Any] | None:
        """Row `index` of the shown table, converting its window on first use."""
        if self.table is None or not 0 <= index < self.total:
            return None
        if not self._offset <= index < self._offset + len(self._rows):
            start = max(0, index - WINDOW // 4)
            window = (self.table.slice(start, WINDOW) if self.indices is None
                      else self.table.take(self.indices[start:start + WINDOW]))
            self._offset, self._rows = start, window.to_pylist()
        return self._rows[index - self._offset]

    @property
    def cursor(self) -> dict[str, Any] | None:
        return self.row(self.cursor_row)

    # -- cursor -------------------------------------------------------------------------------

    def watch_cursor_row(self, old: int, new: int) -> None:
        top = int(self.scroll_y)
        page = max(self.size.height - 1, 1)
        if new < top:
            self.scroll_to(y=new, animate=False, immediate=True)
        elif new >= top + page:
            self.scroll_to(y=new - page + 1, animate=False, immediate=True)
        for index in (old, new):
            self.refresh_line(index - int(self.scroll_y) + 1)
        self.post_message(self.Highlighted(self.cursor))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is not None and offset.y > 0:
            index = int(self.scroll_y) + offset.y - 1
            if index < self.total:
                self.cursor_row = index

    # -- rendering ----------------------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles = None

    def _row_styles(self) -> dict[str, Style]:
        """The styles a row is drawn with, resolved once per style change (focus, theme) rather than
        per cell: asking Textual for them was half of a repaint after a filter."""
        if self._styles is None:
            base = self.rich_style
            cursor = base + self.get_component_rich_style("predictions-table--cursor")
            right = self.get_component_rich_style("predictions-table--right")
            wrong = self.get_component_rich_style("predictions-table--wrong")
            self._styles = {"header": self.get_component_rich_style("predictions-table--header"),
                            "base": base, "cursor": cursor, "base-right": base + right,
                            "base-wrong": base + wrong, "cursor-right": cursor + right,
                            "cursor-wrong": cursor + wrong}
        return self._styles

    def render_line(self, y: int) -> Strip:
        width, scroll_x = self.size.width, int(self.scroll_x)
        styles = self._row_styles()
        if y == 0:
            text = (" " * GAP).join(_fit(h, w, right) for _, h, w, right in COLUMNS)
            segments = [Segment(text, styles["header"])]
        else:
            index = int(self.scroll_y) + y - 1
            row = self.row(index)
            if row is None:
                return Strip.blank(width, styles["base"])
            segments = self._row_segments(index, row, styles)
        return Strip(segments, TABLE_WIDTH).crop_extend(scroll_x, scroll_x + width, styles["base"])

    def _row_segments(self, index: int, row: dict[str, Any], styles: dict[str, Style]) -> list[Segment]:
        line = "cursor" if index == self.cursor_row else "base"
        base = styles[line]
        mark = styles[f"{line}-{'right' if row.get('correct') else 'wrong'}"]
        gap = Segment(" " * GAP, base)
        segments: list[Segment] = []
        for i, (key, _, w, right) in enumerate(COLUMNS):
            if i:
                segments.append(gap)
            segments.append(Segment(_fit(cell_text(key, row.get(key)), w, right),
                                    mark if key == "correct" else base))
        return segments
