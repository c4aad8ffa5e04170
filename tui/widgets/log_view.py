"""The tail of a run's log file (RUN_DIR/logs/train.log), with a follow mode.

Only the last `tail_bytes` are read when the file is first shown (a week-long run's log can be
gigabytes); after that each poll reads just the bytes appended since the last one, in a thread
worker. A file that shrank (rotated, truncated) is read again from its tail.
"""

from __future__ import annotations

import os
from pathlib import Path

from textual import work
from textual.widgets import Log
from textual.worker import get_current_worker


def read_tail(path: Path, tail_bytes: int) -> tuple[list[str], int]:
    """The whole lines in the last `tail_bytes` of `path`, and the offset read up to."""
    with path.open("rb") as f:
        size = f.seek(0, os.SEEK_END)
        start = max(0, size - tail_bytes)
        f.seek(start)
        data = f.read(size - start)
    if start > 0:
        data = data.split(b"\n", 1)[1] if b"\n" in data else b""
    end = data.rfind(b"\n") + 1
    return _lines(data[:end]), size - (len(data) - end)


def read_new(path: Path, offset: int) -> tuple[list[str], int]:
    """Whole lines appended after `offset` (a partial last line waits for its newline)."""
    with path.open("rb") as f:
        f.seek(offset)
        data = f.read()
    end = data.rfind(b"\n") + 1
    return _lines(data[:end]), offset + end


def _lines(data: bytes) -> list[str]:
    return data.decode("utf-8", errors="replace").splitlines()


class LogView(Log):
    """A `Log` fed from a file; `follow` keeps the view at the newest line."""

    DEFAULT_CSS = "LogView { height: 1fr; }"

    def __init__(self, path: Path | None = None, *, tail_bytes: int = 256 * 1024, max_lines: int = 10_000,
                 id: str | None = None) -> None:
        super().__init__(max_lines=max_lines, auto_scroll=True, id=id)
        self.path = path
        self.tail_bytes = tail_bytes
        self._offset: int | None = None
        self._inode: int | None = None

    @property
    def follow(self) -> bool:
        return self.auto_scroll

    @follow.setter
    def follow(self, value: bool) -> None:
        self.auto_scroll = value
        if value:
            self.scroll_end(animate=False)

    def on_mount(self) -> None:
        self.set_interval(1.0, self.poll)

    def set_path(self, path: Path) -> None:
        """Follow `path` (known once the run's row has been read) from its tail."""
        self.path = path
        self._offset = self._inode = None
        self.clear()
        self.poll()

    @work(thread=True, exclusive=True, group="log-view")
    def poll(self) -> None:
        """Read what was appended since the last poll (the first poll reads the tail)."""
        path = self.path
        if path is None:
            return
        try:
            stat = path.stat()
        except FileNotFoundError:
            if self._offset is None:
                self.app.call_from_thread(self._missing, path)
            return
        if self._offset is None or stat.st_size < self._offset or stat.st_ino != self._inode:
            lines, offset = read_tail(path, self.tail_bytes)
            fresh = True
        else:
            if stat.st_size == self._offset:
                return
            lines, offset = read_new(path, self._offset)
            fresh = False
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._append, lines, offset, stat.st_ino, fresh)

    def _missing(self, path: Path) -> None:
        if not self.lines:
            self.write_line(f"(no log yet: {path})")

    def _append(self, lines: list[str], offset: int, inode: int, fresh: bool) -> None:
        if fresh:
            self.clear()
        self._offset, self._inode = offset, inode
        if lines:
            self.write_lines(lines)
