"""Live metric curves (train loss parts, learning rates), drawn in braille (`braille_plot`).

A week-long run logs millions of points; the terminal is ~200 cells wide. The registry hands over
a downsampled series once (`metric_series(..., max_points)`), later refreshes append only the
rows newer than the last one seen, and `MetricSeries` compacts itself back to `max_points`
buckets when appended points pile up. So plotting cost stays flat however long the run is.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget

from tui.widgets import braille_plot


def downsample(steps: Sequence[float], values: Sequence[float], max_points: int
               ) -> tuple[list[float], list[float]]:
    """Bucket means over equal index ranges: at most `max_points` points, ends kept in place."""
    n = len(steps)
    if n <= max_points or max_points < 2:
        return list(steps), list(values)
    out_s: list[float] = []
    out_v: list[float] = []
    for b in range(max_points):
        lo, hi = b * n // max_points, (b + 1) * n // max_points
        if hi <= lo:
            continue
        out_s.append(sum(steps[lo:hi]) / (hi - lo))
        out_v.append(sum(values[lo:hi]) / (hi - lo))
    out_s[0], out_v[0] = steps[0], values[0]
    out_s[-1], out_v[-1] = steps[-1], values[-1]
    return out_s, out_v


def envelope(steps: Sequence[float], mins: Sequence[float], maxs: Sequence[float], columns: int
             ) -> tuple[list[float], list[float]]:
    """The line to draw in `columns` cell columns: per column of the step range, its lowest and its
    highest value (in the order they occurred), so a one-step spike stays visible at any zoom.

    At most 2 * columns points (a braille cell is two dots wide), whatever the series length.
    """
    n = len(steps)
    if n <= 2 * columns or columns < 1:
        return _min_max_points(steps, mins, maxs)
    lo, hi = steps[0], steps[-1]
    width = (hi - lo) / columns or 1.0
    out_s: list[float] = []
    out_v: list[float] = []
    start = 0
    while start < n:
        col = min(int((steps[start] - lo) / width), columns - 1)
        end = start + 1
        while end < n and min(int((steps[end] - lo) / width), columns - 1) == col:
            end += 1
        i_min = min(range(start, end), key=mins.__getitem__)
        i_max = max(range(start, end), key=maxs.__getitem__)
        first, second = sorted(((i_min, mins[i_min]), (i_max, maxs[i_max])))
        out_s.append(steps[first[0]])
        out_v.append(first[1])
        if second[1] != first[1] or end - start > 1:
            out_s.append(steps[second[0]])
            out_v.append(second[1])
        start = end
    return out_s, out_v


def _min_max_points(steps: Sequence[float], mins: Sequence[float], maxs: Sequence[float]
                    ) -> tuple[list[float], list[float]]:
    """Every bucket as its min then its max (one point where they are equal)."""
    out_s: list[float] = []
    out_v: list[float] = []
    for s, lo, hi in zip(steps, mins, maxs, strict=True):
        out_s.append(s)
        out_v.append(lo)
        if hi != lo:
            out_s.append(s)
            out_v.append(hi)
    return out_s, out_v


@dataclass
class MetricSeries:
    """One metric as step buckets (last step, mean, min, max), bounded to about `max_points`.

    The registry hands over buckets; live points arrive one by one (a bucket whose min = max =
    value). Compaction merges neighbouring buckets keeping their extremes, so spikes survive it.
    """

    max_points: int = 1000
    steps: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    mins: list[float] = field(default_factory=list)
    maxs: list[float] = field(default_factory=list)

    def extend(self, points: Iterable[tuple[float, float | None] | tuple[float, float | None, float | None,
                                                                          float | None]]) -> None:
        """Append (step, value) points or (step, mean, min, max) buckets; NaN/None are skipped."""
        for point in points:
            step, value = point[0], point[1]
            if value is None or not math.isfinite(value):
                continue
            lo, hi = (point[2], point[3]) if len(point) == 4 else (value, value)  # type: ignore[misc]
            lo = value if lo is None or not math.isfinite(lo) else lo
            hi = value if hi is None or not math.isfinite(hi) else hi
            self.steps.append(step)
            self.values.append(value)
            self.mins.append(lo)
            self.maxs.append(hi)
        if len(self.steps) > 2 * self.max_points:
            self._compact()

    def _compact(self) -> None:
        n, k = len(self.steps), self.max_points
        bounds = [(b * n // k, (b + 1) * n // k) for b in range(k)]
        bounds = [(lo, hi) for lo, hi in bounds if hi > lo]
        self.values = [sum(self.values[lo:hi]) / (hi - lo) for lo, hi in bounds]
        self.mins = [min(self.mins[lo:hi]) for lo, hi in bounds]
        self.maxs = [max(self.maxs[lo:hi]) for lo, hi in bounds]
        self.steps = [self.steps[hi - 1] for _, hi in bounds]


class MetricStore:
    """All series of one run, by metric name; fed by the detail screen's refresh worker."""

    def __init__(self, max_points: int = 1000) -> None:
        self.max_points = max_points
        self.series: dict[str, MetricSeries] = {}

    def extend(self, name: str, points: Iterable[tuple[float, float | None]]) -> None:
        self.series.setdefault(name, MetricSeries(self.max_points)).extend(points)

    def names(self) -> list[str]:
        return sorted(self.series)


def _base(name: str) -> str:
    """The ingest stores train metrics as `train/<name>` and evals as `<split>/<name>`."""
    return name.removeprefix("train/")


def is_lr(name: str) -> bool:
    base = _base(name)
    return base == "lr" or base.startswith(("lr_", "lr/"))


def default_selection(names: Iterable[str]) -> list[str]:
    """Train loss and its parts (loss/mlm, loss/itm...) are drawn unless the user picks otherwise."""
    return [n for n in names
            if n.startswith("train/") and (_base(n) == "loss" or _base(n).startswith("loss/"))]


class LossPlot(Widget):
    """Plots the chosen series of a `MetricStore` against step; `log_scale` for the y axis.

    Drawn with our braille canvas (`braille_plot`), each series cut to two points per cell column
    first (`envelope`), so the cost depends on the plot's size, not the run's length. The lines are
    built at most once per change of data, size or theme and served from that cache per line.
    """

    DEFAULT_CSS = "LossPlot { height: 1fr; min-height: 8; }"
    PALETTE: ClassVar[tuple[str, ...]] = ("cyan", "magenta", "green", "yellow", "red", "blue")
    """ANSI names: the theme maps them, so light and dark themes both keep the curves readable."""

    def __init__(self, store: MetricStore, title: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.store = store
        self.title = title
        self.names: list[str] = []
        self.log_scale = False
        self.builds = 0
        """How many times the lines were drawn (the cache is what keeps a refresh cheap)."""
        self._version = 0
        self._cache: tuple[tuple, list[Strip]] | None = None

    def show(self, names: Sequence[str], log_scale: bool | None = None) -> None:
        self.names = list(names)
        if log_scale is not None:
            self.log_scale = log_scale
        self.replot()

    def replot(self) -> None:
        """The data changed: draw again at the next render."""
        self._version += 1
        self.refresh()

    def render_line(self, y: int) -> Strip:
        lines = self.lines()
        return lines[y] if 0 <= y < len(lines) else Strip.blank(self.size.width, self.rich_style)

    def lines(self) -> list[Strip]:
        """The plot as one strip per line, drawn again only when data, size or theme changed."""
        key = (self.size, self._version, self.app.theme)
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, self._draw())
        return self._cache[1]

    def notify_style_update(self) -> None:
        """CSS changed (our colours come from it): draw again."""
        super().notify_style_update()
        self._cache = None

    def curves(self, columns: int) -> list[braille_plot.Curve]:
        """The chosen series as drawn: two points per cell column, log10 values on a log scale."""
        out = []
        for name in self.names:
            series = self.store.series.get(name)
            if series is None or not series.steps:
                continue
            steps, mins, maxs = series.steps, series.mins, series.maxs
            if self.log_scale:
                kept = [(s, lo, hi) for s, lo, hi in zip(steps, mins, maxs, strict=True) if lo > 0]
                steps, mins, maxs = [k[0] for k in kept], [k[1] for k in kept], [k[2] for k in kept]
            if steps:
                xs, ys = envelope(steps, mins, maxs, columns)
                ys = [math.log10(v) for v in ys] if self.log_scale else ys
                out.append(braille_plot.Curve(name, xs, ys))
        return out

    def _draw(self) -> list[Strip]:
        self.builds += 1
        width, height = self.size.width, self.size.height
        if width < 1 or height < 1:
            return []
        curves = self.curves(max(width - 8, 8))
        title = self.title + (" (log)" if self.log_scale and curves else "")
        title += "" if curves else ": no data yet"
        rows = braille_plot.draw(curves, width, height, title=title, xlabel="step",
                                 log_y=self.log_scale and bool(curves))
        base = self.rich_style
        styles: dict[str | None, Style] = {None: base, braille_plot.AXIS: base + Style(dim=True),
                                           braille_plot.TITLE: base + Style(bold=True)}
        styles.update({str(i): base + Style(color=self.PALETTE[i % len(self.PALETTE)])
                       for i in range(len(curves))})
        return [Strip([Segment(text, styles[key]) for text, key in row], width) for row in rows]
