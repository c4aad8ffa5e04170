"""The edit dialog of the runs screen (`e`): a run's name, tags and notes, as `clpbert runs edit`.

The current values are read in a worker; Save writes the registry and RUN_DIR/run.json through the
same engine call as the CLI. A mistake (an empty name) comes back under the form, which stays open.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, TextArea

from tui.screens.form import FormScreen


def parse_tags(text: str) -> list[str]:
    """`a, b c` -> ["a", "b", "c"]: commas or spaces separate tags; repeats are dropped."""
    return list(dict.fromkeys(t for t in text.replace(",", " ").split() if t))


class EditRunScreen(FormScreen[bool]):
    """Dismisses with True when the run was saved, False when cancelled."""

    ERROR_ID, SUBMIT_ID = "edit-error", "edit-save"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "save", "Save"),
    ]
    DEFAULT_CSS = """
    EditRunScreen { align: center middle; }
    EditRunScreen > Vertical { width: 80; height: auto; border: thick $primary; background: $surface;
                               padding: 0 2; }
    EditRunScreen Label.field { margin-top: 1; text-style: bold; }
    EditRunScreen #edit-notes { height: 8; }
    EditRunScreen #edit-error { color: $error; margin-top: 1; }
    EditRunScreen Horizontal { height: auto; align-horizontal: right; margin-top: 1; }
    EditRunScreen Button { margin-left: 2; }
    """

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Edit run {self.run_id}", classes="field")
            yield Label("Name", classes="field")
            yield Input(id="edit-name")
            yield Label("Tags (comma or space separated)", classes="field")
            yield Input(id="edit-tags")
            yield Label("Notes", classes="field")
            yield TextArea(id="edit-notes")
            yield Label("", id="edit-error")
            with Horizontal():
                yield Button("Cancel", id="edit-cancel")
                yield Button("Save", id="edit-save", variant="primary", disabled=True)

    def on_mount(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="edit-run")
    def _load(self) -> None:
        try:
            run = self.app.data.registry.get_run(self.run_id)
        except Exception as e:  # deleted meanwhile: say so, never crash
            self.app.call_from_thread(self.show_error, str(e))
            return
        self.app.call_from_thread(self._fill, run.name, [str(t) for t in run.tags], run.notes or "")

    def _fill(self, name: str, tags: list[str], notes: str) -> None:
        self.query_one("#edit-name", Input).value = name
        self.query_one("#edit-tags", Input).value = ", ".join(tags)
        self.query_one("#edit-notes", TextArea).text = notes
        self.query_one("#edit-save", Button).disabled = False
        self.query_one("#edit-name", Input).focus()

    @on(Button.Pressed, "#edit-cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)

    @on(Button.Pressed, "#edit-save")
    def action_save(self) -> None:
        if self.query_one("#edit-save", Button).disabled:
            return
        name = self.query_one("#edit-name", Input).value
        tags = parse_tags(self.query_one("#edit-tags", Input).value)
        notes = self.query_one("#edit-notes", TextArea).text

        def save() -> bool:
            self.app.data.edit_run(self.run_id, name=name, tags=tags, notes=notes)
            return True

        self.submit(save)
