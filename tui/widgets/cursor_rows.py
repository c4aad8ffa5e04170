"""Keyboard movement shared by the virtualised tables (runs, predictions): one cursor row over
`total` rows, moved by arrows, pages and home/end."""

from __future__ import annotations

from textual.binding import Binding, BindingType

CURSOR_BINDINGS: list[BindingType] = [
    Binding("up", "cursor(-1)", "Up", show=False),
    Binding("down", "cursor(1)", "Down", show=False),
    Binding("pageup", "page(-1)", "Page up", show=False),
    Binding("pagedown", "page(1)", "Page down", show=False),
    Binding("home", "jump(0)", "First", show=False),
    Binding("end", "jump(-1)", "Last", show=False),
]


class CursorRows:
    """Actions for CURSOR_BINDINGS; the widget provides `cursor_row`, `total` and `size`."""

    cursor_row: int
    total: int

    def action_cursor(self, delta: int) -> None:
        self.cursor_row = max(0, min(self.total - 1, self.cursor_row + delta))

    def action_page(self, direction: int) -> None:
        self.action_cursor(direction * max(self.size.height - 2, 1))  # type: ignore[attr-defined]

    def action_jump(self, where: int) -> None:
        self.cursor_row = max(self.total - 1, 0) if where < 0 else 0
