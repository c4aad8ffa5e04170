"""A virtualised runs table: renders only the visible rows, fetched as a window from the registry.

Why not DataTable: a DataTable with 10 000 rows measures every cell before the first paint
(1.6-2.2 s here) and re-renders the whole table on any change. This widget knows only the row
count (for the scrollbar) and a window of rows around the viewport; scrolling past the window or a
periodic refresh fetches the window again in a thread worker, and rows are updated in place.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events, work
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.worker import get_current_worker

from tui import formatting as fmt
from tui.widgets.cursor_rows import CURSOR_BINDINGS, CursorRows


@dataclass(frozen=True)
class RunRow:
    """One run as the table shows it (plain values; formatting happens at render time)."""

    id: str
    name: str
    task: str
    state: str
    gpus: str = ""
    step: int | None = None
    total_steps: int | None = None
    started_at: float | None = None
    loss: float | None = None
    best_name: str | None = None
    best_value: float | None = None
    created_at: float | None = None
    finished_at: float | None = None
    job: str = "-"
    """A node run's job and node rank (`<job id> n<rank>`), `-` for a one-node run."""


@dataclass(frozen=True)
class RunQuery:
    """What the table shows: filters and sort, passed whole to the page loader."""

    text: str = ""
    states: tuple[str, ...] = ()
    task: str = ""
    sort: str = "created"
    descending: bool = True
    tag: str = ""


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int
    sort: str | None = None
    right: bool = False


COLUMNS: tuple[Column, ...] = (
    Column("mark", " ", 1),
    Column("id", "ID", 10, "id"),
    Column("name", "Name", 21, "name"),
    Column("task", "Task", 14, "task"),
    Column("state", "State", 9, "state"),
    Column("job", "Job", 11, "job_id"),  # sorting by it puts the node runs of each job together
    Column("gpus", "GPUs", 7),
    Column("progress", "Step", 16, "step", right=True),
    Column("eta", "ETA", 7, right=True),
    Column("loss", "Loss", 9, right=True),
    Column("best", "Best", 16),
    Column("age", "Age", 6, "created", right=True),
)
GAP = 1
TABLE_WIDTH = sum(c.width for c in COLUMNS) + GAP * (len(COLUMNS) - 1)

PageLoader = Callable[[RunQuery, int, int], tuple[int, list[RunRow]]]
"""(query, offset, limit) -> (total matching rows, rows[offset:offset+limit]); runs in a thread."""


@dataclass
class _Window:
    """The rows currently held: rows[i] is row number offset + i of the query's result."""

    offset: int = 0
    rows: list[RunRow] = field(default_factory=list)

    def get(self, index: int) -> RunRow | None:
        i = index - self.offset
        return self.rows[i] if 0 <= i < len(self.rows) else None

    def covers(self, start: int, stop: int, total: int) -> bool:
        return self.offset <= start and min(stop, total) <= self.offset + len(self.rows)


class RunsTable(CursorRows, ScrollView, can_focus=True):
    """Runs, one per line, with a fixed header; cursor, marks (for compare) and click-to-sort."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *CURSOR_BINDINGS,
        Binding("enter", "select", "Open", show=False),
        Binding("space", "toggle_mark", "Mark", show=False),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "runs-table--header",
        "runs-table--cursor",
        "runs-table--marked",
        "runs-table--placeholder",
    }
    DEFAULT_CSS = """
    RunsTable { height: 1fr; background: $surface; }
    RunsTable > .runs-table--header { text-style: bold; background: $panel; color: $text; }
    RunsTable > .runs-table--cursor { background: $block-cursor-background; color: $block-cursor-foreground; }
    RunsTable:blur > .runs-table--cursor { background: $block-cursor-blurred-background; }
    RunsTable > .runs-table--marked { text-style: bold; color: $accent; }
    RunsTable > .runs-table--placeholder { color: $text-muted; }
    """

    cursor_row: reactive[int] = reactive(0, repaint=False)
    total: reactive[int] = reactive(0, repaint=False)

    class Highlighted(Message):
        def __init__(self, row: RunRow | None) -> None:
            super().__init__()
            self.row = row

    class Selected(Message):
        def __init__(self, row: RunRow) -> None:
            super().__init__()
            self.row = row

    class Loaded(Message):
        """A window arrived (tests and the screen's status line wait for it)."""

        def __init__(self, total: int) -> None:
            super().__init__()
            self.total = total

    def __init__(self, loader: PageLoader, *, clock: Callable[[], float], prefetch: int | None = None,
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self._loader = loader
        self._clock = clock
        self._prefetch = prefetch
        """Rows fetched above and below the viewport (None: half a screen)."""
        self._window = _Window()
        self.run_query = RunQuery()
        self.marked: dict[str, RunRow] = {}
        self.loaded_once = False
        self.load_count = 0
        """Windows applied so far (benchmarks and tests wait on it)."""

    # -- data ---------------------------------------------------------------------------------

    def set_query(self, query: RunQuery) -> None:
        """New filter or sort: back to the top and fetch again."""
        self.run_query = query
        self.cursor_row = 0
        self.scroll_to(y=0, animate=False)
        self.reload()

    def reload(self) -> None:
        """Fetch the window around the viewport again (periodic refresh, after an action)."""
        height = max(self.size.height - 1, 1)
        margin = self._prefetch if self._prefetch is not None else max(height // 2, 10)
        top = int(self.scroll_y)
        start = max(0, min(top, self.cursor_row) - margin)
        stop = max(top + height, self.cursor_row + 1) + margin
        self._fetch(self.run_query, start, stop - start)

    @work(thread=True, exclusive=True, group="runs-table")
    def _fetch(self, query: RunQuery, offset: int, limit: int) -> None:
        total, rows = self._loader(query, offset, limit)
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._apply, query, total, offset, rows)

    def _apply(self, query: RunQuery, total: int, offset: int, rows: list[RunRow]) -> None:
        if query != self.run_query:
            return
        old = self._window
        self._window = _Window(offset, rows)
        self.total = total
        self.virtual_size = Size(TABLE_WIDTH, total + 1)
        if self.cursor_row >= total:
            self.cursor_row = max(total - 1, 0)
        self.loaded_once = True
        self.load_count += 1
        self._refresh_changed(old)
        self.post_message(self.Highlighted(self.cursor))
        self.post_message(self.Loaded(total))

    def _refresh_changed(self, old: _Window) -> None:
        """Repaint only the visible lines whose row changed (in-place update)."""
        top = int(self.scroll_y)
        for y in range(1, self.size.height):
            index = top + y - 1
            if old.get(index) != self._window.get(index):
                self.refresh_line(y)

    @property
    def cursor(self) -> RunRow | None:
        return self._window.get(self.cursor_row)

    def visible_rows(self) -> list[RunRow]:
        top = int(self.scroll_y)
        rows = (self._window.get(top + y) for y in range(max(self.size.height - 1, 0)))
        return [r for r in rows if r is not None]

    # -- scrolling and cursor -----------------------------------------------------------------

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        top = int(new_value)
        if self.loaded_once and not self._window.covers(top, top + self.size.height, self.total):
            self.reload()

    def watch_cursor_row(self, old: int, new: int) -> None:
        top = int(self.scroll_y)
        page = max(self.size.height - 1, 1)
        if new < top:
            self.scroll_to(y=new, animate=False, immediate=True)
        elif new >= top + page:
            self.scroll_to(y=new - page + 1, animate=False, immediate=True)
        for row in (old, new):
            self.refresh_line(row - int(self.scroll_y) + 1)
        self.post_message(self.Highlighted(self.cursor))

    def on_resize(self, event: events.Resize) -> None:
        if self.loaded_once:
            self.reload()

    def action_select(self) -> None:
        if self.cursor is not None:
            self.post_message(self.Selected(self.cursor))

    def action_toggle_mark(self) -> None:
        row = self.cursor
        if row is None:
            return
        if row.id in self.marked:
            del self.marked[row.id]
        else:
            self.marked[row.id] = row
        self.refresh_line(self.cursor_row - int(self.scroll_y) + 1)
        self.action_cursor(1)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.y == 0:
            column = self._column_at(offset.x + int(self.scroll_x))
            if column is not None and column.sort:
                self.post_message(SortRequested(column.sort))
            return
        index = int(self.scroll_y) + offset.y - 1
        if index < self.total:
            self.cursor_row = index
            if event.chain >= 2:
                self.action_select()

    def _column_at(self, x: int) -> Column | None:
        left = 0
        for column in COLUMNS:
            if left <= x < left + column.width + GAP:
                return column
            left += column.width + GAP
        return None

    # -- rendering ----------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        scroll_x = int(self.scroll_x)
        if y == 0:
            segments = self._header_segments()
        else:
            index = int(self.scroll_y) + y - 1
            if index >= self.total:
                return Strip.blank(width, self.rich_style)
            segments = self._row_segments(index)
        strip = Strip(segments, TABLE_WIDTH)
        return strip.crop_extend(scroll_x, scroll_x + width, self.rich_style)

    def _header_segments(self) -> list[Segment]:
        style = self.get_component_rich_style("runs-table--header")
        cells = []
        for column in COLUMNS:
            label = column.label
            if column.sort and column.sort == self.run_query.sort:
                label += " ▼" if self.run_query.descending else " ▲"
            cells.append(_fit(label, column.width, column.right))
        return [Segment((" " * GAP).join(cells), style)]

    def _row_segments(self, index: int) -> list[Segment]:
        base = self.rich_style
        if index == self.cursor_row:
            base = base + self.get_component_rich_style("runs-table--cursor")
        row = self._window.get(index)
        if row is None:
            muted = base + self.get_component_rich_style("runs-table--placeholder")
            return [Segment(_fit("…", TABLE_WIDTH), muted)]
        marked = row.id in self.marked
        texts = self._cells(row, marked)
        segments: list[Segment] = []
        mark_style = base + self.get_component_rich_style("runs-table--marked") if marked else base
        for i, (column, text) in enumerate(zip(COLUMNS, texts, strict=True)):
            if i:
                segments.append(Segment(" " * GAP, base))
            style = mark_style
            if column.key == "state":
                style = base + Style.parse(fmt.state_style(row.state))
            segments.append(Segment(_fit(text, column.width, column.right), style))
        return segments

    def _cells(self, row: RunRow, marked: bool) -> Sequence[str]:
        now = self._clock()
        live = row.state in fmt.LIVE_STATES
        best = "-" if row.best_value is None else f"{row.best_name}={fmt.number(row.best_value)}"
        return (
            "●" if marked else " ",
            row.id,
            row.name,
            row.task,
            row.state,
            row.job,
            row.gpus or "-",
            fmt.progress(row.step, row.total_steps),
            fmt.duration(fmt.eta(row.step, row.total_steps, row.started_at, now)) if live else "-",
            fmt.number(row.loss),
            best,
            fmt.duration(now - row.created_at) if row.created_at is not None else "-",
        )


class SortRequested(Message):
    """A header click asked to sort by `sort` (the screen owns the query)."""

    def __init__(self, sort: str) -> None:
        super().__init__()
        self.sort = sort


def _fit(text: str, width: int, right: bool = False) -> str:
    """Pad or cut to exactly `width` terminal cells (cut text ends with an ellipsis)."""
    length = cell_len(text)
    if length > width:
        return set_cell_size(text, width - 1) + "…" if width > 1 else set_cell_size(text, width)
    pad = " " * (width - length)
    return pad + text if right else text + pad
