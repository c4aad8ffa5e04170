"""Bars drawn with block characters: accuracy per question type, rank histograms, top-5 scores.

Text bars (not a plot widget): they sit in a Static beside tables, render the same in snapshots and
cost nothing to redraw after each filter.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.text import Text

BLOCKS = " ▏▎▍▌▋▊▉█"


def bar(fraction: float, width: int) -> str:
    """A bar of `width` cells filled to `fraction` (eighths of a cell), padded with spaces."""
    fraction = min(max(fraction, 0.0), 1.0)
    eighths = round(fraction * width * 8)
    full, part = divmod(eighths, 8)
    text = "█" * full + (BLOCKS[part] if part else "")
    return text.ljust(width)


def type_accuracy(scores: Sequence[Any], width: int = 30) -> Text:
    """One line per type: name, bar, accuracy and right/total (analysis.TypeScore items)."""
    out = Text()
    name_w = max([len(s.type) for s in scores] + [4])
    for s in scores:
        style = "green" if s.acc >= 0.5 else "red"
        out.append(f"{s.type:<{name_w}} ")
        out.append(bar(s.acc, width), style=style)
        out.append(f" {s.acc:6.1%}  {s.right}/{s.total}\n")
    return out


def histograms(named: Sequence[tuple[str, Sequence[tuple[str, int]]]], width: int = 24) -> Text:
    """Several histograms with the same bins side by side (retrieval: t2v and v2t ranks)."""
    if not named:
        return Text()
    labels = [label for label, _ in named[0][1]]
    label_w = max([len(x) for x in labels] + [4])
    col_w = width + 8
    out = Text(" " * (label_w + 1))
    for title, _ in named:
        out.append(f"{title[:col_w - 1]:<{col_w}}", style="bold")
    out.append("\n")
    tops = [max([c for _, c in counts] + [1]) for _, counts in named]
    for i, label in enumerate(labels):
        out.append(f"{label:>{label_w}} ")
        for (_, counts), top in zip(named, tops, strict=True):
            c = counts[i][1]
            out.append(bar(c / top, width), style="cyan")
            out.append(f" {c:<6} ")
        out.append("\n")
    return out


def scored(labels: Sequence[str], values: Sequence[float], width: int = 20, mark: str | None = None) -> Text:
    """Candidates with their score bars, the ground truth (`mark`) starred."""
    out = Text()
    label_w = min(max([len(x) for x in labels] + [4]), 28)
    for label, v in zip(labels, values, strict=False):
        star = "*" if mark is not None and label == mark else " "
        shown = label if len(label) <= label_w else label[: label_w - 1] + "…"
        out.append(f"{star}{shown:<{label_w}} ", style="bold" if star == "*" else "")
        out.append(bar(v if v == v else 0.0, width), style="magenta")  # NaN/-inf draw empty
        out.append(f" {v:.3f}\n")
    return out
