"""Give a Static new content only when it differs from what it shows.

`Static.update` asks for a layout pass of the whole screen. A live refresh re-sends mostly the same
text (GPU titles, the process-tree line, the step split of a run that logged nothing new), and those
passes were a large part of a refresh's time on the run detail screen.
"""

from __future__ import annotations

from textual.visual import VisualType
from textual.widgets import Static


def update_if_changed(widget: Static, content: VisualType) -> bool:
    """Update `widget` when `content` is new; True when it did."""
    if type(widget.content) is type(content) and widget.content == content:
        return False
    widget.update(content)
    return True
