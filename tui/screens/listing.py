"""A small registry listing (datasets, checkpoints): a table, the chosen item's details, verify.

These lists hold tens to hundreds of items, so a plain DataTable is right here (the runs table is
the one that needs virtualising). Loading and verifying run in thread workers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static
from textual.worker import get_current_worker

from tui.widgets.key_footer import KeyFooter


class ListingScreen(Screen[None]):
    """Subclasses say what to load, which columns to show, the details text and how to verify."""

    WHAT = ""
    """What is listed, in the user's words (sub-title, empty message)."""
    COLUMNS: ClassVar[Sequence[str]] = ()
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("v", "verify", "Verify"),
        Binding("ctrl+r", "refresh", "Refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[str, Any] = {}

    # -- to override --------------------------------------------------------------------------

    def load(self) -> list[Any]:
        raise NotImplementedError

    def key(self, item: Any) -> str:
        raise NotImplementedError

    def cells(self, item: Any) -> Sequence[Any]:
        raise NotImplementedError

    def details(self, item: Any) -> Text:
        raise NotImplementedError

    def verify(self, item: Any) -> tuple[bool, str]:
        raise NotImplementedError

    # -- shared -------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(classes="listing"):
            table: DataTable[Any] = DataTable(cursor_type="row", zebra_stripes=True, id="listing-table")
            yield table
            yield Static("", id="listing-details")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = self.WHAT
        table = self.query_one(DataTable)
        table.add_columns(*self.COLUMNS)
        table.focus()
        self.reload()

    def on_screen_resume(self) -> None:
        self.reload()

    def action_refresh(self) -> None:
        self.reload()

    @work(thread=True, exclusive=True, group="listing")
    def reload(self) -> None:
        items = self.load()
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show, items)

    def _show(self, items: list[Any]) -> None:
        """Update in place: changed rows get new cells, gone rows go, new rows are appended."""
        table = self.query_one(DataTable)
        new = {self.key(i): i for i in items}
        for key in list(self.items):
            if key not in new:
                table.remove_row(key)
        for key, item in new.items():
            cells = self.cells(item)
            if key in self.items:
                if self.cells(self.items[key]) != cells:
                    for column, value in zip(table.columns, cells, strict=True):
                        table.update_cell(key, column, value)
            else:
                table.add_row(*cells, key=key)
        self.items = new
        if not items:
            self.query_one("#listing-details", Static).update(Text(self.empty_text(), style="dim"))
        else:
            self._show_details()

    def empty_text(self) -> str:
        return f"no {self.WHAT} registered yet"

    def current(self) -> Any | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self.items.get(key or "")

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_details()

    def _show_details(self) -> None:
        item = self.current()
        if item is not None:
            self.query_one("#listing-details", Static).update(self.details(item))

    def action_verify(self) -> None:
        item = self.current()
        if item is None:
            self.notify("nothing selected", severity="warning")
            return
        self.notify(f"verifying {self.key(item)}…")
        self._verify(item)

    @work(thread=True, group="listing-verify")
    def _verify(self, item: Any) -> None:
        try:
            ok, message = self.verify(item)
        except Exception as e:  # a failed verification is a result to show, not a crash
            ok, message = False, str(e)
        self.app.call_from_thread(self.notify, message, severity="information" if ok else "error",
                                  timeout=8)
