"""The run detail's tab bar (labels over an underline), drawn by one widget.

Textual's TabbedContent builds about 16 widgets for it (Tabs, its scroll and list containers, one
Tab per label, the Underline, the ContentSwitcher, a TabPane per tab), each styled, composed and
mounted on every open of the screen. TabBar draws the same two lines with the same theme colours,
cell runs and focus style (its snapshot is the same), switches by click, left/right and
`active`, and posts `TabBar.Changed` so its screen shows that tab's content (a ContentSwitcher).
"""

from __future__ import annotations

from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget


class TabBar(Widget, can_focus=True):
    """` Curves  Resources  Evals ...` and, under them, a bar highlighting the active label."""

    ALLOW_SELECT = False
    COMPONENT_CLASSES: ClassVar[set[str]] = {"tab-bar--label", "tab-bar--hover", "tab-bar--active",
                                             "tab-bar--bar"}
    # Textual's Tab, Tabs and Underline rules, for the same look
    DEFAULT_CSS = """
    TabBar { width: 100%; height: 2; }
    TabBar > .tab-bar--label { color: $foreground 50%; }
    TabBar > .tab-bar--hover { color: $foreground; }
    TabBar > .tab-bar--active { color: $foreground; }
    TabBar > .tab-bar--bar { color: $block-cursor-background; background: $foreground 10%; }
    TabBar:ansi > .tab-bar--label { text-style: dim; }
    TabBar:ansi > .tab-bar--active { text-style: not dim bold; }
    TabBar:ansi > .tab-bar--bar { color: $block-cursor-background; background: $border-blurred; }
    TabBar:focus > .tab-bar--active {
        text-style: $block-cursor-text-style;
        color: $block-cursor-foreground;
        background: $block-cursor-background;
    }
    TabBar:focus > .tab-bar--bar { background: $foreground 30%; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left", "step(-1)", "Previous tab", show=False),
        Binding("right", "step(1)", "Next tab", show=False),
    ]
    active: reactive[str] = reactive("")
    """The id of the shown tab."""
    hovered: reactive[str] = reactive("")

    class Changed(Message):
        """The active tab changed (by key, click or `active`)."""

        def __init__(self, bar: TabBar, tab: str) -> None:
            super().__init__()
            self.bar = bar
            self.tab = tab

        @property
        def control(self) -> TabBar:
            return self.bar

    def __init__(self, tabs: list[tuple[str, str]], active: str, *, id: str | None = None) -> None:
        """`tabs`: (id, label) pairs, in order."""
        super().__init__(id=id)
        self.tabs = tabs
        self.set_reactive(TabBar.active, active)

    def spans(self) -> list[tuple[int, int, str]]:
        """(first cell, end cell, tab id) of each tab: its label with one cell of padding a side."""
        spans, x = [], 0
        for tab_id, label in self.tabs:
            spans.append((x, x + len(label) + 2, tab_id))
            x += len(label) + 2
        return spans

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y == 0:
            return self._labels(width)
        if y == 1:
            return self._underline(width)
        return Strip.blank(width, self.rich_style)

    def _labels(self, width: int) -> Strip:
        label = self.get_component_rich_style("tab-bar--label")
        hover = self.get_component_rich_style("tab-bar--hover")
        active = self.get_component_rich_style("tab-bar--active")
        segments = []
        for tab_id, text in self.tabs:
            style = active if tab_id == self.active else hover if tab_id == self.hovered else label
            # a label carries its tab in its (unseen) meta, so it stays a cell run apart from its
            # padding, as each Tab widget's label does
            segments += [Segment(" ", style), Segment(text, style + Style(meta={"tab": tab_id})),
                         Segment(" ", style)]
        return Strip(segments).adjust_cell_length(width, label)

    def _underline(self, width: int) -> Strip:
        """rich's Bar (as Textual's Underline draws it), highlighting the active label's cells."""
        start = end = 0
        for first, last, tab_id in self.spans():
            if tab_id == self.active:
                start, end = first + 1, last - 1
        bar = self.get_component_rich_style("tab-bar--bar")
        on, off = Style.from_color(bar.color), Style.from_color(bar.bgcolor)
        pieces = [("━" * max(start - 1, 0), off), ("╸" if start > 0 else "", off), ("━" * (end - start), on),
                  ("╺" if end != width else "", off), ("━" * max(width - end - 1, 0), off)]
        return Strip([Segment(text, self.rich_style + style) for text, style in pieces if text])

    def watch_active(self, tab: str) -> None:
        self.refresh()
        self.post_message(self.Changed(self, tab))

    def watch_hovered(self) -> None:
        self.refresh()

    def action_step(self, delta: int) -> None:
        ids = [tab_id for tab_id, _ in self.tabs]
        self.active = ids[(ids.index(self.active) + delta) % len(ids)] if self.active in ids else ids[0]

    def _tab_at(self, x: int) -> str:
        return next((tab_id for first, last, tab_id in self.spans() if first <= x < last), "")

    def on_click(self, event: events.Click) -> None:
        """A click on a label, or on the bar under it, shows that tab."""
        if tab := self._tab_at(event.x):
            self.active = tab

    def on_mouse_move(self, event: events.MouseMove) -> None:
        self.hovered = self._tab_at(event.x) if event.y == 0 else ""

    def on_leave(self, event: events.Leave) -> None:
        self.hovered = ""
