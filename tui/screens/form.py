"""The modal forms' shared submit: the engine call runs in a worker; a user mistake (UserError)
comes back as its one line under the form, which stays open; success dismisses with the result."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from textual import work
from textual.screen import ModalScreen
from textual.widgets import Button, Label

ResultT = TypeVar("ResultT")


class FormScreen(ModalScreen[ResultT]):
    """Subclasses name their error label and submit button (ids, without `#`)."""

    ERROR_ID: ClassVar[str]
    SUBMIT_ID: ClassVar[str]

    def submit(self, call: Callable[[], Any], busy: str = "") -> None:
        """Disable the submit button, say `busy`, and run `call` off the UI thread."""
        self.query_one(f"#{self.SUBMIT_ID}", Button).disabled = True
        self.query_one(f"#{self.ERROR_ID}", Label).update(busy)
        self._submit(call)

    @work(thread=True, exclusive=True, group="form-submit")
    def _submit(self, call: Callable[[], Any]) -> None:
        from clpbert.errors import UserError

        try:
            result = call()
        except UserError as e:
            self.app.call_from_thread(self.show_error, str(e))
            return
        self.app.call_from_thread(self.dismiss, result)

    def show_error(self, message: str) -> None:
        """The message under the form; the submit button works again."""
        self.query_one(f"#{self.ERROR_ID}", Label).update(message)
        self.query_one(f"#{self.SUBMIT_ID}", Button).disabled = False
