"""A rich progress bar on stderr for downloads (size, speed, ETA); used only on a terminal.

The engine reports a download's progress through the `clpbert.hub.download.Progress` callbacks
(start / advance / stop) and never imports rich; drawing the bar is the CLI's business.
"""

from __future__ import annotations

import sys
from typing import Any


class RichProgress:
    """Implements `clpbert.hub.download.Progress` with one bar per file."""

    def __init__(self, console: Any = None):
        from rich.console import Console

        self.console = console or Console(stderr=True)
        self._progress: Any = None
        self._task: Any = None

    def start(self, label: str, total: int | None, completed: int = 0) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self.stop()
        self._progress = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                                  TransferSpeedColumn(), TimeRemainingColumn(), console=self.console,
                                  transient=False)
        self._progress.start()
        self._task = self._progress.add_task(label, total=total, completed=completed)

    def advance(self, n: int) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, n)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def make_progress(enabled: bool) -> Any:
    """A RichProgress when `enabled` and stderr is a terminal, else a silent one."""
    from clpbert.app.weights import NullProgress

    if enabled and sys.stderr.isatty():
        return RichProgress()
    return NullProgress()
