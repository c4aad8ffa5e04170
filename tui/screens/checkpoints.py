"""Registered checkpoints with their lineage (which run and step made them); `v` checks sha256."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from rich.text import Text

from tui import formatting as fmt
from tui.data import Checkpoint
from tui.formatting import short_path
from tui.screens.listing import ListingScreen


def lineage(item: Checkpoint) -> str:
    if item.run_id:
        return f"run {item.run_id} step {item.step if item.step is not None else '?'}"
    return item.source or "-"


class CheckpointsScreen(ListingScreen):
    WHAT = "checkpoints"
    COLUMNS: ClassVar[Sequence[str]] = ("Name", "Kind", "From", "Size", "sha256", "Age")

    def load(self) -> list[Checkpoint]:
        return self.app.data.checkpoints()

    def key(self, item: Checkpoint) -> str:
        return str(item.id)

    def cells(self, item: Checkpoint) -> Sequence[Any]:
        return (item.name, item.kind, lineage(item), f"{item.size / 2**20:,.1f} MiB", item.sha256[:12] or "-",
                fmt.duration(self.app.clock() - item.created))

    def details(self, item: Checkpoint) -> Text:
        text = Text.assemble((item.name, "bold"), f"   kind {item.kind}   produced by {lineage(item)}\n")
        text.append(f"path {short_path(item.path)}\nsha256 {item.sha256 or '-'}   size {item.size:,} bytes\n")
        if item.notes:
            text.append(f"notes {item.notes}")
        return text

    def verify(self, item: Checkpoint) -> tuple[bool, str]:
        return self.app.data.verify_checkpoint(item)
