"""Live metric curves (train loss parts, learning rates) drawn with textual-plotext.

A week-long run logs millions of points; the terminal is ~200 cells wide. The registry hands over
a downsampled series once (`metric_series(..., max_points)`), later refreshes append only the
rows newer than the last one seen, and `MetricSeries` compacts itself back to `max_points`
buckets when appended points pile up. So plotting cost stays flat however long the run is.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from rich.text import Text
from textual_plotext import PlotextPlot


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


@dataclass
class MetricSeries:
    """One metric's (step, value) points, bounded to about `max_points`."""

    max_points: int = 1000
    steps: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)

    def extend(self, points: Iterable[tuple[float, float | None]]) -> None:
        for step, value in points:
            if value is None or not math.isfinite(value):
                continue
            self.steps.append(step)
            self.values.append(value)
        if len(self.steps) > 2 * self.max_points:
            self.steps, self.values = downsample(self.steps, self.values, self.max_points)


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


class LossPlot(PlotextPlot):
    """Plots the chosen series of a `MetricStore` against step; `log_scale` for the y axis.

    Building a plotext figure costs tens of milliseconds, so it happens in `render` only when the
    data, size or theme changed since the last build (and only while the plot is visible), with
    each series cut to two points per cell column (braille resolution) first.
    """

    DEFAULT_CSS = "LossPlot { height: 1fr; min-height: 8; }"

    def __init__(self, store: MetricStore, title: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.store = store
        self.title = title
        self.names: list[str] = []
        self.log_scale = False
        self._version = 0
        self._cache: tuple[tuple, Text] | None = None

    def show(self, names: Sequence[str], log_scale: bool | None = None) -> None:
        self.names = list(names)
        if log_scale is not None:
            self.log_scale = log_scale
        self.replot()

    def replot(self) -> None:
        """The data changed: build again at the next render."""
        self._version += 1
        self.refresh()

    def render(self) -> Text:
        key = (self.size, self._version, self.app.theme, self.theme)
        if self._cache is None or self._cache[0] != key:
            self._build()
            self._cache = (key, super().render())  # type: ignore[arg-type]
        return self._cache[1]

    def _build(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(self.title + (" (log)" if self.log_scale else ""))
        plt.xlabel("step")
        drawn = 0
        for name in self.names:
            series = self.store.series.get(name)
            if series is None or not series.steps:
                continue
            steps, values = series.steps, series.values
            if self.log_scale:
                kept = [(s, v) for s, v in zip(steps, values, strict=True) if v > 0]
                steps, values = [s for s, _ in kept], [v for _, v in kept]
            if steps:
                steps, values = downsample(steps, values, max(2 * self.size.width, 16))
                plt.plot(steps, values, label=name, marker="braille")
                drawn += 1
        if drawn and self.log_scale:
            plt.yscale("log")
        if not drawn:
            plt.title(self.title + ": no data yet")
