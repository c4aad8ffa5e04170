"""The new-run dialog: task, dataset, init checkpoint, GPUs (live, free ones marked), overrides.

Start creates and launches a real run through the run manager (the same call as `clpbert run`);
a mistake (unknown key, busy GPU, missing dataset) comes back as its one-line message under the
form and the dialog stays open.
"""

from __future__ import annotations

import shlex
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Input, Label, Select, SelectionList
from textual.widgets.selection_list import Selection

from tui.data import NewRunChoices, NewRunRequest
from tui.screens.form import FormScreen


class NewRunScreen(FormScreen[str | None]):
    """Dismisses with the new run's id, or None when cancelled."""

    ERROR_ID, SUBMIT_ID = "new-error", "new-start"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "start", "Start"),
    ]
    DEFAULT_CSS = """
    NewRunScreen { align: center middle; }
    NewRunScreen > VerticalScroll { width: 90; height: 90%; border: thick $primary; background: $surface;
                                    padding: 0 2; }
    NewRunScreen Label.field { margin-top: 1; text-style: bold; }
    NewRunScreen #new-gpus { height: auto; max-height: 10; }
    NewRunScreen #new-error { color: $error; margin-top: 1; }
    NewRunScreen Horizontal { height: auto; align-horizontal: right; margin-top: 1; }
    NewRunScreen Button { margin-left: 2; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.choices: NewRunChoices | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Label("New run", classes="field")
            yield Label("Task", classes="field")
            tasks = self.app.data.tasks()  # the presets: no registry read
            yield Select[str]([(t, t) for t in tasks], id="new-task", allow_blank=False,
                              value="demo" if "demo" in tasks else tasks[0])
            yield Label("Dataset (registered; blank = the task's default)", classes="field")
            yield Select[str]([], id="new-dataset", prompt="dataset")
            yield Label("Initial checkpoint (blank = the preset's)", classes="field")
            yield Select[str]([], id="new-ckpt", prompt="checkpoint")
            yield Label("GPUs (none = CPU)", classes="field")
            yield SelectionList[str](id="new-gpus")
            yield Label("Name", classes="field")
            yield Input(placeholder="optional run name", id="new-name")
            yield Label("Config overrides (key=value, space separated)", classes="field")
            yield Input(placeholder="optim.max_steps=20 data.batch_size=4", id="new-overrides")
            yield Label("", id="new-error")
            with Horizontal():
                yield Button("Cancel", id="new-cancel")
                yield Button("Start", id="new-start", variant="primary")

    def on_mount(self) -> None:
        self.load_choices()

    @work(thread=True, exclusive=True, group="new-run")
    def load_choices(self) -> None:
        choices = self.app.data.new_run_choices()
        self.app.call_from_thread(self._show_choices, choices)

    def _show_choices(self, choices: NewRunChoices) -> None:
        self.choices = choices
        self._fill_datasets()
        self.query_one("#new-ckpt", Select).set_options([(label, ref) for ref, label in choices.checkpoints])
        gpus = self.query_one("#new-gpus", SelectionList)
        gpus.clear_options()
        if not choices.gpus:
            gpus.add_option(Selection(f"no GPUs: {choices.gpu_reason or 'none found'} (runs on CPU)",
                                      "", disabled=True))
        for gpu in choices.gpus:
            gpus.add_option(Selection(gpu.label, gpu.key, disabled=not gpu.free))
        self.query_one("#new-task", Select).focus()

    @on(Select.Changed, "#new-task")
    def _task_changed(self) -> None:
        self._fill_datasets()

    def _fill_datasets(self) -> None:
        if self.choices is None:
            return
        task = self.query_one("#new-task", Select).value
        options = [(f"{name} ({t})", name) for name, t in self.choices.datasets if not t or t == task]
        self.query_one("#new-dataset", Select).set_options(options)

    def request(self) -> NewRunRequest:
        def value(selector: str) -> str:
            v = self.query_one(selector, Select).value
            return v if isinstance(v, str) else ""

        return NewRunRequest(
            task=value("#new-task"),
            dataset=value("#new-dataset"),
            init_checkpoint=value("#new-ckpt"),
            gpus=[g for g in self.query_one("#new-gpus", SelectionList).selected if g],
            name=self.query_one("#new-name", Input).value.strip(),
            overrides=shlex.split(self.query_one("#new-overrides", Input).value),
        )

    @on(Button.Pressed, "#new-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#new-start")
    def action_start(self) -> None:
        try:
            request = self.request()
        except ValueError as e:  # unbalanced quotes in the overrides
            self.query_one("#new-error", Label).update(f"overrides: {e}")
            return
        if not request.task:
            self.query_one("#new-error", Label).update("choose a task")
            return
        self.submit(lambda: self.app.data.start_run(request), busy="starting…")
