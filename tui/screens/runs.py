"""The runs screen: every run in a virtualised table, filtered, sorted, acted on.

Filter syntax in the box (`/` to focus): free words match the name/id, `state:running,failed`
keeps those states, `task:demo` one task, `tag:sweep` one tag; `f` cycles the state filter, `o` the
sort column, `O` flips the order, a header click sorts by that column.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Header, Input, Label

from tui import formatting as fmt
from tui.widgets.key_footer import KeyFooter
from tui.widgets.runs_table import COLUMNS, RunQuery, RunRow, RunsTable, SortRequested

STATE_CYCLE = fmt.STATE_FILTER_CYCLE
SORTS = [c.sort for c in COLUMNS if c.sort]


def parse_filter(text: str, base: RunQuery) -> RunQuery:
    """`state:a,b task:t tag:x words` -> a RunQuery (sort kept from `base`)."""
    words, states, task, tag = [], (), "", ""
    for token in text.split():
        key, sep, value = token.partition(":")
        if sep and key == "state":
            states = tuple(s for s in value.split(",") if s)
        elif sep and key == "task":
            task = value
        elif sep and key == "tag":
            tag = value
        else:
            words.append(token)
    return RunQuery(text=" ".join(words), states=states, task=task, sort=base.sort,
                    descending=base.descending, tag=tag)


def format_filter(query: RunQuery) -> str:
    parts = [query.text] if query.text else []
    if query.states:
        parts.append("state:" + ",".join(query.states))
    if query.task:
        parts.append(f"task:{query.task}")
    if query.tag:
        parts.append(f"tag:{query.tag}")
    return " ".join(parts)


class RunsScreen(Screen[None]):
    """Runs: open, stop, kill, resume, compare, delete, new."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open", show=True),
        Binding("n", "new_run", "New run"),
        Binding("s", "stop", "Stop"),
        Binding("k", "kill", "Kill"),
        Binding("r", "resume", "Resume"),
        Binding("e", "edit", "Edit"),
        Binding("space", "mark", "Mark", show=False),
        Binding("c", "compare", "Compare"),
        Binding("delete,x", "delete", "Delete", key_display="del/x"),
        Binding("slash", "focus_filter", "Filter", key_display="/"),
        Binding("f", "cycle_state", "State filter"),
        Binding("o", "cycle_sort", "Sort"),
        Binding("O", "reverse_sort", "Reverse", show=False),
        Binding("ctrl+r", "refresh", "Refresh", show=False),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="runs-bar"):
            yield Input(placeholder="filter: words  state:running,failed  task:demo  tag:sweep  (/ to focus)",
                        id="runs-filter")
            yield Label("", id="runs-summary")
        yield RunsTable(self.app.data.runs_page, clock=self.app.clock, id="runs-table")
        yield Label("", id="runs-status")
        yield KeyFooter()

    @property
    def table(self) -> RunsTable:
        return self.query_one(RunsTable)

    def on_mount(self) -> None:
        self.sub_title = "runs"
        self.table.focus()
        self.set_interval(self.app.refresh_s, self._tick)

    def _tick(self) -> None:
        if self.is_current:
            self.table.reload()

    def on_screen_resume(self) -> None:
        """First show, and back from a pushed screen: fetch the window (the only initial load)."""
        self.table.reload()

    # -- status line --------------------------------------------------------------------------

    def on_runs_table_loaded(self, event: RunsTable.Loaded) -> None:
        marked = len(self.table.marked)
        query = self.table.run_query
        order = "desc" if query.descending else "asc"
        text = f"{event.total:,} runs · sort {query.sort} {order}"
        if marked:
            text += f" · {marked} marked"
        summary = self.query_one("#runs-summary", Label)
        if summary.content != text:  # an unchanged label must not cost a layout pass per refresh
            summary.update(text)

    def notify_status(self, text: str) -> None:
        self.query_one("#runs-status", Label).update(text)

    # -- filter and sort ----------------------------------------------------------------------

    @on(Input.Submitted, "#runs-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        self.table.set_query(parse_filter(event.value, self.table.run_query))
        self.table.focus()

    @on(Input.Changed, "#runs-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.table.set_query(parse_filter(event.value, self.table.run_query))

    def _set_query(self, query: RunQuery) -> None:
        self.query_one("#runs-filter", Input).value = format_filter(query)
        self.table.set_query(query)

    def action_focus_filter(self) -> None:
        self.query_one("#runs-filter", Input).focus()

    def action_clear_filter(self) -> None:
        self._set_query(RunQuery(sort=self.table.run_query.sort, descending=self.table.run_query.descending))
        self.table.focus()

    def action_cycle_state(self) -> None:
        q = self.table.run_query
        i = STATE_CYCLE.index(q.states) if q.states in STATE_CYCLE else -1
        states = STATE_CYCLE[(i + 1) % len(STATE_CYCLE)]
        self._set_query(RunQuery(q.text, states, q.task, q.sort, q.descending))

    def action_cycle_sort(self) -> None:
        q = self.table.run_query
        sort = SORTS[(SORTS.index(q.sort) + 1) % len(SORTS)] if q.sort in SORTS else SORTS[0]
        self.table.set_query(RunQuery(q.text, q.states, q.task, sort, q.descending))

    def action_reverse_sort(self) -> None:
        q = self.table.run_query
        self.table.set_query(RunQuery(q.text, q.states, q.task, q.sort, not q.descending))

    def on_sort_requested(self, event: SortRequested) -> None:
        q = self.table.run_query
        descending = not q.descending if event.sort == q.sort else q.descending
        self.table.set_query(RunQuery(q.text, q.states, q.task, event.sort, descending))

    def action_refresh(self) -> None:
        self.table.reload()

    # -- actions on runs ----------------------------------------------------------------------

    def on_runs_table_selected(self, event: RunsTable.Selected) -> None:
        self.app.open_run(event.row.id)

    def action_open(self) -> None:
        if self.table.cursor is not None:
            self.app.open_run(self.table.cursor.id)

    def action_mark(self) -> None:
        self.table.action_toggle_mark()

    def action_compare(self) -> None:
        ids = list(self.table.marked) or ([self.table.cursor.id] if self.table.cursor else [])
        if len(ids) < 2:
            self.notify("mark two or more runs with space, then press c", severity="warning")
            return
        self.app.compare_runs(ids)

    def action_new_run(self) -> None:
        from tui.screens.new_run import NewRunScreen

        def started(run_id: str | None) -> None:
            if run_id:
                self.notify(f"started run {run_id}")
                self.table.reload()

        self.app.push_screen(NewRunScreen(), started)

    def _confirm_then(self, verb: str, action: str, rows: list[RunRow], allowed: tuple[str, ...] | None
                      ) -> None:
        """Ask, then run `action` on the rows (in a worker)."""
        if allowed is not None:
            rows = [r for r in rows if r.state in allowed]
        if not rows:
            self.notify(f"nothing to {verb} here", severity="warning")
            return
        from tui.screens.confirm import ConfirmScreen

        names = ", ".join(r.name or r.id for r in rows[:3])
        if len(rows) > 3:
            names += f" and {len(rows) - 3} more"
        question = f"{verb.capitalize()} {len(rows)} run{'s' if len(rows) > 1 else ''}: {names}?"

        def answered(yes: bool | None) -> None:
            if yes:
                self._act(action, [r.id for r in rows])

        self.app.push_screen(ConfirmScreen(question, yes=verb.capitalize()), answered)

    def _targets(self) -> list[RunRow]:
        if self.table.marked:
            return list(self.table.marked.values())
        return [self.table.cursor] if self.table.cursor is not None else []

    def action_stop(self) -> None:
        self._confirm_then("stop", "stop_run", self._targets(), fmt.STOPPABLE_STATES)

    def action_kill(self) -> None:
        self._confirm_then("kill", "kill_run", self._targets(), fmt.KILLABLE_STATES)

    def action_delete(self) -> None:
        self._confirm_then("delete", "delete_run", self._targets(), None)

    def action_edit(self) -> None:
        """Name, tags and notes of the run under the cursor."""
        row = self.table.cursor
        if row is None:
            self.notify("no run here to edit", severity="warning")
            return
        from tui.screens.edit_run import EditRunScreen

        def saved(ok: bool | None) -> None:
            if ok:
                self.notify(f"saved run {row.id}")
                self.table.reload()

        self.app.push_screen(EditRunScreen(row.id), saved)

    def action_resume(self) -> None:
        rows = [r for r in self._targets() if r.state in fmt.RESUMABLE_STATES]
        if not rows:
            self.notify("only failed, killed or lost runs can be resumed", severity="warning")
            return
        self._act("resume_run", [r.id for r in rows])

    @work(thread=True, group="run-actions")
    def _act(self, action: str, run_ids: list[str]) -> None:
        done, errors = [], []
        for run_id in run_ids:
            try:
                getattr(self.app.data, action)(run_id)
                done.append(run_id)
            except Exception as e:  # a failed action is shown, never crashes the UI
                errors.append(f"{run_id}: {e}")
        self.app.call_from_thread(self._acted, action, done, errors)

    def _acted(self, action: str, done: list[str], errors: list[str]) -> None:
        verb = action.removesuffix("_run")
        if done:
            self.notify(f"{verb}: {', '.join(done)}")
            self.notify_status(f"{verb}: {', '.join(done)}")
        for error in errors:
            self.notify(error, severity="error", timeout=8)
        if action == "delete_run":
            for run_id in done:
                self.table.marked.pop(run_id, None)
        self.table.reload()
