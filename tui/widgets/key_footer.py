"""The key bar at the bottom of a screen, drawn as one line by one widget.

Textual's Footer is a container holding one FooterKey widget per binding (19 on the run detail
screen) that it removes and mounts again whenever the bindings change (a screen opens, focus
moves); styling those widgets was about a quarter of opening the predictions screen. KeyFooter
draws the same line with the same theme colours from `screen.active_bindings`, repaints when they
change, and turns a click on a key into that key press.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual import events
from textual.screen import Screen
from textual.widget import Widget


@dataclass(frozen=True)
class FooterKey:
    key: str
    display: str
    description: str
    enabled: bool


class KeyFooter(Widget, can_focus=False):
    """`esc Back  p Curves ...` and, on the right, the command palette key."""

    ALLOW_SELECT = False
    COMPONENT_CLASSES: ClassVar[set[str]] = {"key-footer--key", "key-footer--description",
                                             "key-footer--separator"}
    DEFAULT_CSS = """
    KeyFooter {
        dock: bottom;
        height: 1;
        color: $footer-foreground;
        background: $footer-background;
    }
    KeyFooter > .key-footer--key {
        color: $footer-key-foreground;
        background: $footer-key-background;
        text-style: bold;
    }
    KeyFooter > .key-footer--description {
        color: $footer-description-foreground;
        background: $footer-description-background;
    }
    KeyFooter > .key-footer--separator { color: $foreground 20%; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._spans: list[tuple[int, int, FooterKey]] = []

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen) -> None:  # type: ignore[type-arg]
        self.refresh()

    def keys(self) -> tuple[list[FooterKey], FooterKey | None]:
        """The shown bindings (one per action, in the screen's order) and the command palette's."""
        shown: list[FooterKey] = []
        actions: set[str] = set()
        palette = None
        for key, (_node, binding, enabled, _tooltip) in self.screen.active_bindings.items():
            item = FooterKey(binding.key, self.app.get_key_display(binding), binding.description, enabled)
            if self.app.ENABLE_COMMAND_PALETTE and key == self.app.COMMAND_PALETTE_BINDING:
                palette = item
            elif binding.show and binding.action not in actions:
                actions.add(binding.action)
                shown.append(item)
        return shown, palette

    def render(self) -> Text:
        shown, palette = self.keys()
        key_style = self.get_component_rich_style("key-footer--key")
        desc_style = self.get_component_rich_style("key-footer--description")
        right = Text()
        if palette is not None:
            right.append("▏", self.get_component_rich_style("key-footer--separator"))
            right.append(palette.display, key_style)
            right.append(f" {palette.description}", desc_style)
        room = max(self.size.width - right.cell_len - (1 if palette else 0), 0)  # its right padding
        left = Text()
        spans: list[tuple[int, int, FooterKey]] = []
        for item in shown:
            dim = Style(dim=not item.enabled)
            start = left.cell_len
            left.append(f" {item.display} ", key_style + dim)
            left.append(f"{item.description} ", desc_style + dim)
            spans.append((start, left.cell_len, item))
        left.truncate(room, pad=True)
        if palette is not None:
            spans.append((room, room + right.cell_len, palette))
        self._spans = [s for s in spans if s[0] < self.size.width]
        return Text.assemble(left, right, no_wrap=True, end="")

    def on_click(self, event: events.Click) -> None:
        for start, end, item in self._spans:
            if start <= event.x < end:
                if item.enabled:
                    self.app.simulate_key(item.key)
                else:
                    self.app.bell()
                return
