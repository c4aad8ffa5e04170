"""F1 / ?: every key of the screen underneath and of the app, read from the live bindings.

The list is built from the active bindings rather than written by hand, so it cannot drift from
what the keys actually do.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

GENERAL = (
    ("ctrl+p", "command palette (screens, actions, theme)"),
    ("mouse", "click rows to select, double-click to open, click headers to sort, wheel to scroll"),
)


def key_table(screen: Screen) -> Text:
    """`key  description` for every active binding (focused widget, screen, app), grouped by owner."""
    groups: dict[str, list[tuple[str, str]]] = {}
    seen: set[tuple[str, str]] = set()
    for key, active in screen.active_bindings.items():
        binding = active.binding
        display = binding.key_display or _pretty(key)
        if not binding.description or (display, binding.action) in seen:
            continue
        seen.add((display, binding.action))
        owner = "App" if active.node is screen.app else (
            "This screen" if active.node is screen else type(active.node).__name__)
        groups.setdefault(owner, []).append((display, binding.description))
    groups["Everywhere"] = list(GENERAL)
    text = Text()
    for title, rows in groups.items():
        text.append(f"{title}\n", style="bold underline")
        for key, description in rows:
            text.append(f"  {key:<16}", style="bold cyan")
            text.append(f"{description}\n")
        text.append("\n")
    return text


def _pretty(key: str) -> str:
    return {"question_mark": "?", "slash": "/", "space": "space", "escape": "esc"}.get(key, key)


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,f1,question_mark", "dismiss", "Close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 90; max-height: 90%; height: auto; border: thick $primary;
                                  background: $surface; padding: 0 2; }
    """

    def __init__(self, underneath: Screen) -> None:
        super().__init__()
        self.underneath = underneath

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(Text("Keys\n", style="bold") + key_table(self.underneath), id="help-keys")
