"""The rich download bar: drawn on a terminal, silent otherwise."""

from __future__ import annotations

import io

from cli.progress import RichProgress, make_progress
from clpbert.hub.download import NullProgress


def test_rich_bar_shows_label_size_and_speed():
    from rich.console import Console

    out = io.StringIO()
    bar = RichProgress(Console(file=out, force_terminal=True, width=120))
    bar.start("grid-feat-r50", total=4 * 1024 * 1024, completed=1024 * 1024)
    bar.advance(3 * 1024 * 1024)
    bar.stop()
    text = out.getvalue()
    assert "grid-feat-r50" in text and "4.2/4.2 MB" in text


def test_not_a_terminal_or_json_is_silent():
    assert isinstance(make_progress(False), NullProgress)
    assert isinstance(make_progress(True), NullProgress)  # pytest captures stderr: not a TTY
