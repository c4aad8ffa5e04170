"""A line plot drawn with braille characters: 2x4 dots per cell, axes with labels, one colour per series.

textual-plotext built and transposed a whole character matrix per figure, about 45 ms a plot on a
busy 2-core machine, whatever the number of points; the run detail screen draws two plots per
open. Here numpy marks only the dots the lines cross and each row becomes a few colour runs, so a
plot of a few thousand points costs about a millisecond. Pure functions: `draw` returns the lines
as (text, style) runs; the widget (`LossPlot`) turns them into strips.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

BRAILLE_BASE = 0x2800
DOT_BITS = np.array([[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]], dtype=np.uint8)
"""Unicode braille: bit of the dot at (row 0..3, column 0..1) of a cell."""

AXIS = "axis"
TITLE = "title"
Run = tuple[str, str | None]
"""A piece of one line: its text and its style key (a series index as text, AXIS, TITLE or None)."""


@dataclass(frozen=True)
class Curve:
    """One series to draw: x and y as given (log scale is the caller's transform), its label."""

    label: str
    xs: Sequence[float]
    ys: Sequence[float]


@dataclass(frozen=True)
class Frame:
    """Where the plot area sits inside the widget, in cells."""

    left: int  # first plot column (after the y labels and the axis line)
    top: int  # first plot row (after the title line)
    width: int
    height: int


def number_label(value: float, span: float) -> str:
    """A tick label short enough for an axis: 250k, 1.5M, 0.0031, 2.5e-05, 12."""
    if value == 0:
        return "0"
    a = abs(value)
    if (a >= 1e4 and float(value).is_integer()) or a >= 1e6:
        for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
            if a >= div:
                return f"{value / div:.3g}{suffix}"
    if a < 1e-3 or a >= 1e6:
        return f"{value:.2g}"
    digits = max(0, min(6, 2 - math.floor(math.log10(span)))) if span > 0 else 3
    text = f"{value:.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def nice_ticks(lo: float, hi: float, count: int) -> list[float]:
    """Round values (1, 2 or 5 times a power of ten apart) inside [lo, hi], about `count` of them."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo or count < 1:
        return [lo] if math.isfinite(lo) else []
    raw = (hi - lo) / max(count, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9)
    last = math.floor(hi / step + 1e-9)
    return [k * step for k in range(first, last + 1)]


def _range(values: list[np.ndarray]) -> tuple[float, float]:
    lo = min(float(v.min()) for v in values)
    hi = max(float(v.max()) for v in values)
    if hi <= lo:  # a flat line sits in the middle
        pad = abs(lo) * 0.05 or 1.0
        lo, hi = lo - pad, hi + pad
    return lo, hi


def line_dots(px: np.ndarray, py: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every dot on the straight segments joining consecutive (px, py) dot positions (integers)."""
    if px.size < 2:
        return px.astype(np.int64), py.astype(np.int64)
    dx, dy = np.diff(px), np.diff(py)
    steps = np.maximum(np.maximum(np.abs(dx), np.abs(dy)), 1).astype(np.int64)
    seg = np.repeat(np.arange(steps.size), steps)
    offset = np.arange(seg.size) - np.repeat(np.cumsum(steps) - steps, steps)
    t = offset / steps[seg]
    xs = np.rint(px[:-1][seg] + dx[seg] * t).astype(np.int64)
    ys = np.rint(py[:-1][seg] + dy[seg] * t).astype(np.int64)
    return np.append(xs, int(px[-1])), np.append(ys, int(py[-1]))


def _row_runs(chars: str, owner: np.ndarray) -> list[Run]:
    """Split one plot row into runs of equal owner (the series drawn last in a cell colours it)."""
    change = np.flatnonzero(np.diff(owner)) + 1
    bounds = [0, *change.tolist(), len(chars)]
    return [(chars[a:b], None if owner[a] < 0 else str(int(owner[a])))
            for a, b in itertools.pairwise(bounds)]


def draw(curves: Sequence[Curve], width: int, height: int, *, title: str, xlabel: str = "",
         log_y: bool = False) -> list[list[Run]]:
    """The plot as `height` lines of runs, each line exactly `width` cells.

    Layout: the title and the legend on the first line, y labels and an axis on the left, an axis
    line and x labels at the bottom (the x label at its right end). With `log_y` the ys are log10
    values and the labels show the powers they stand for.
    """
    curves = [c for c in curves if len(c.xs)]
    xs_all = [np.asarray(c.xs, dtype=np.float64) for c in curves]
    ys_all = [np.asarray(c.ys, dtype=np.float64) for c in curves]
    plot_h = max(1, height - 3)
    y_lo = y_hi = 0.0
    y_ticks: list[tuple[int, str]] = []
    if curves:
        y_lo, y_hi = _range(ys_all)
        for v in nice_ticks(y_lo, y_hi, max(1, plot_h // 3)):
            row = round((y_hi - v) / (y_hi - y_lo) * (plot_h * 4 - 1)) // 4
            span = (10 ** y_hi - 10 ** y_lo) if log_y else y_hi - y_lo
            label = number_label(10 ** v if log_y else v, span)
            if not y_ticks or y_ticks[-1][0] != row:
                y_ticks.append((row, label))
    label_w = max((len(lab) for _, lab in y_ticks), default=0)
    frame = Frame(left=label_w + 1, top=1, width=max(1, width - label_w - 1), height=plot_h)
    lines: list[list[Run]] = [_title_line(title, [c.label for c in curves], width, frame.left)]
    grid_rows = _plot_rows(xs_all, ys_all, frame, y_lo, y_hi) if curves else \
        [[(" " * frame.width, None)] for _ in range(plot_h)]
    tick_rows = dict(y_ticks)
    for r, runs in enumerate(grid_rows):
        label = tick_rows.get(r, "")
        lines.append([(label.rjust(label_w) + ("┤" if label else "│"), AXIS), *runs])
    x_lo, x_hi = (_range(xs_all) if curves else (0.0, 1.0))
    lines += _x_axis(x_lo, x_hi, frame, width, xlabel, labelled=bool(curves))
    return [_fit(line, width) for line in lines[:height]]


def _plot_rows(xs_all: list[np.ndarray], ys_all: list[np.ndarray], frame: Frame, y_lo: float, y_hi: float
               ) -> list[list[Run]]:
    w, h = frame.width, frame.height
    x_lo, x_hi = _range(xs_all)
    bits = np.zeros((h, w), dtype=np.uint8)
    owner = np.full((h, w), -1, dtype=np.int64)
    for i, (xs, ys) in enumerate(zip(xs_all, ys_all, strict=True)):
        px = np.rint((xs - x_lo) / (x_hi - x_lo) * (2 * w - 1))
        py = np.rint((y_hi - ys) / (y_hi - y_lo) * (4 * h - 1))
        dx, dy = line_dots(px, py)
        dx, dy = np.clip(dx, 0, 2 * w - 1), np.clip(dy, 0, 4 * h - 1)
        cells_y, cells_x = dy // 4, dx // 2
        np.bitwise_or.at(bits, (cells_y, cells_x), DOT_BITS[dy % 4, dx % 2])
        owner[cells_y, cells_x] = i
    codes = np.where(bits > 0, BRAILLE_BASE + bits.astype(np.uint32), ord(" ")).astype("<u4")
    return [_row_runs(codes[r].tobytes().decode("utf-32-le"), owner[r]) for r in range(h)]


def _title_line(title: str, labels: list[str], width: int, left: int) -> list[Run]:
    runs: list[Run] = [(" " * left, None), (title, TITLE)]
    for i, label in enumerate(labels):
        runs += [("   ", None), ("━━", str(i)), (" " + label, None)]
    return runs


def _x_axis(lo: float, hi: float, frame: Frame, width: int, xlabel: str, labelled: bool
            ) -> list[list[Run]]:
    """The axis line with tick marks, and the tick labels under them (never overlapping)."""
    axis = ["─"] * frame.width
    labels = [" "] * width
    end = width - (len(xlabel) + 1 if xlabel else 0)
    if labelled:
        next_free = 0
        for v in nice_ticks(lo, hi, max(1, frame.width // 12)):
            col = round((v - lo) / (hi - lo) * (2 * frame.width - 1)) // 2
            text = number_label(v, hi - lo)
            start = max(0, frame.left + col - len(text) // 2)
            if start < next_free or start + len(text) > end:
                continue
            axis[col] = "┬"
            labels[start:start + len(text)] = text
            next_free = start + len(text) + 1
    if xlabel:
        labels[end + 1:] = xlabel
    return [[(" " * (frame.left - 1) + "└" + "".join(axis), AXIS)], [("".join(labels), AXIS)]]


def _fit(runs: list[Run], width: int) -> list[Run]:
    """Cut or pad a line to exactly `width` cells (every character here is one cell wide)."""
    out: list[Run] = []
    used = 0
    for text, style in runs:
        if used >= width:
            break
        text = text[:width - used]
        if text:
            out.append((text, style))
            used += len(text)
    if used < width:
        out.append((" " * (width - used), None))
    return out
