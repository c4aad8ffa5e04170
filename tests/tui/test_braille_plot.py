"""The curves' drawing: per-column envelope before plotting, and the braille canvas itself."""

from __future__ import annotations

import math
import random

from tui.widgets.braille_plot import BRAILLE_BASE, Curve, draw, line_dots, nice_ticks, number_label
from tui.widgets.loss_plot import envelope


def _text(lines) -> list[str]:
    return ["".join(text for text, _ in line) for line in lines]


def _dots(cell: str) -> int:
    """How many braille dots a cell has set (0 for a space or any other character)."""
    code = ord(cell) - BRAILLE_BASE
    return bin(code).count("1") if 0 < code < 256 else 0


def test_envelope_keeps_the_min_and_max_of_every_column_and_is_bounded_by_width():
    rng = random.Random(3)
    n, columns = 5_000, 37
    steps = list(range(0, 10 * n, 10))
    mins = [rng.uniform(0, 1) for _ in steps]
    maxs = [m + rng.uniform(0, 1) for m in mins]
    mins[1234], maxs[4321] = -50.0, 80.0  # one dip, one spike
    xs, ys = envelope(steps, mins, maxs, columns)
    assert len(xs) <= 2 * columns and xs == sorted(xs)
    width = (steps[-1] - steps[0]) / columns
    for col in range(columns):  # every column's extremes are among the points drawn
        inside = [i for i, s in enumerate(steps) if min(int((s - steps[0]) / width), columns - 1) == col]
        drawn = [y for x, y in zip(xs, ys, strict=True)
                 if min(int((x - steps[0]) / width), columns - 1) == col]
        assert min(mins[i] for i in inside) in drawn and max(maxs[i] for i in inside) in drawn
    assert min(ys) == -50.0 and max(ys) == 80.0


def test_a_one_step_spike_reaches_the_top_row_of_the_canvas():
    steps = list(range(100_000))
    values = [1.0] * len(steps)
    values[61_803] = 9.0
    xs, ys = envelope(steps, values, values, 60)
    lines = _text(draw([Curve("loss", xs, ys)], 70, 14, title="loss", xlabel="step"))
    plot_rows = lines[1:-2]
    top = [c for c in plot_rows[0] if _dots(c)]
    assert top, "the spike is drawn in the top plot row"
    assert sum(_dots(c) for c in plot_rows[-1]) > 60  # the flat line along the bottom


def test_every_line_is_exactly_the_widget_width_with_axes_title_and_legend():
    xs = list(range(0, 2000, 10))
    curves = [Curve("train/loss", xs, [3 / (1 + x / 100) for x in xs]),
              Curve("train/loss/mlm", xs, [2 / (1 + x / 100) for x in xs])]
    runs = draw(curves, 90, 16, title="loss", xlabel="step")
    lines = _text(runs)
    assert len(lines) == 16 and all(len(line) == 90 for line in lines)
    assert "loss" in lines[0] and "train/loss" in lines[0] and "train/loss/mlm" in lines[0]
    assert "3┤" in "".join(lines) and lines[-1].rstrip().endswith("step") and "1000" in lines[-1]
    assert lines[-2].lstrip().startswith("└")
    styles = {style for line in runs for _, style in line}
    assert {"0", "1"} <= styles  # one colour per series


def test_empty_flat_and_log_plots_still_draw():
    lines = _text(draw([], 40, 8, title="loss: no data yet", xlabel="step"))
    assert "no data yet" in lines[0] and len(lines) == 8 and not any(_dots(c) for c in "".join(lines))
    flat = _text(draw([Curve("lr", [5, 6, 7], [2.0, 2.0, 2.0])], 40, 8, title="lr"))
    assert sum(_dots(c) for line in flat for c in line) >= 3
    logs = _text(draw([Curve("lr", [0, 1, 2], [math.log10(v) for v in (1e-3, 1e-5, 1e-7)])], 40, 12,
                      title="lr (log)", log_y=True))
    labels = [line.split("┤")[0].strip() for line in logs[1:-2] if "┤" in line]
    assert len(labels) >= 2 and all(math.log10(float(v)).is_integer() for v in labels)  # powers of ten


def test_line_dots_join_consecutive_points_without_gaps():
    import numpy as np

    xs, ys = line_dots(np.array([0.0, 10.0, 11.0, 30.0]), np.array([0.0, 40.0, 2.0, 2.0]))
    steps = np.maximum(np.abs(np.diff(xs)), np.abs(np.diff(ys)))
    assert steps.max() <= 1 and (xs[0], ys[0]) == (0, 0) and (xs[-1], ys[-1]) == (30, 2)


def test_tick_labels_are_round_and_short():
    assert [round(v, 6) for v in nice_ticks(0.0, 1.0, 5)] == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(0.0, 1.0, 4) == [0.0, 0.5, 1.0]
    assert nice_ticks(3.0, 3.0, 4) == [3.0]
    assert [number_label(v, 500_000) for v in (0, 250_000, 1_500_000)] == ["0", "250k", "1.5M"]
    assert number_label(2.5e-5, 1e-5) == "2.5e-05" and number_label(0.125, 0.5) == "0.125"
