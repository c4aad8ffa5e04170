"""Registered datasets: task, format, splits and counts, fingerprint; `v` re-checks the files."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from rich.text import Text

from tui import formatting as fmt
from tui.data import Dataset
from tui.formatting import short_path
from tui.screens.listing import ListingScreen


class DatasetsScreen(ListingScreen):
    WHAT = "datasets"
    COLUMNS: ClassVar[Sequence[str]] = ("Name", "Task", "Format", "Splits", "Fingerprint", "Age")

    def load(self) -> list[Dataset]:
        return self.app.data.datasets()

    def key(self, item: Dataset) -> str:
        return item.name

    def cells(self, item: Dataset) -> Sequence[Any]:
        splits = " ".join(f"{k}:{v:,}" for k, v in item.splits.items())
        return (item.name, item.task, item.format, splits, item.fingerprint[:12],
                fmt.duration(self.app.clock() - item.created))

    def details(self, item: Dataset) -> Text:
        text = Text.assemble((item.name, "bold"), f"   task {item.task}   format {item.format}\n")
        for split, count in item.splits.items():
            text.append(f"  {split:<12}{count:>10,} examples\n")
        text.append(f"fingerprint {item.fingerprint}\ntxt_db {short_path(item.txt_db)}\n"
                    f"vis_db {short_path(item.vis_db)}\ntokenizer {short_path(item.tokenizer) or '-'}")
        return text

    def verify(self, item: Dataset) -> tuple[bool, str]:
        return self.app.data.verify_dataset(item)
