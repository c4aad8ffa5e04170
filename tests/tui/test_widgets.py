"""Pure helpers behind the widgets: formatting, downsampling, eval columns, log tailing."""

from __future__ import annotations

from tui import formatting as fmt
from tui.widgets.eval_table import column_label, column_order, lower_is_better
from tui.widgets.log_view import read_new, read_tail
from tui.widgets.loss_plot import MetricSeries, default_selection, downsample, is_lr


def test_formatting_handles_unknown_values_and_units():
    assert fmt.duration(None) == "-" and fmt.duration(3725) == "1h02m" and fmt.duration(90061) == "1d1h"
    assert fmt.number(None) == "-" and fmt.number(5e-5) == "5.00e-05" and fmt.number(0.123456) == "0.1235"
    assert fmt.progress(50, 200) == "50/200  25%" and fmt.progress(7, None) == "7"
    assert fmt.eta(50, 200, started_at=0.0, now=100.0) == 300.0
    assert fmt.eta(0, 200, started_at=0.0, now=100.0) is None


def test_downsample_keeps_ends_and_bounds_points():
    steps = list(range(10_000))
    values = [float(s % 7) for s in steps]
    s, v = downsample(steps, values, 500)
    assert len(s) == 500 and s[0] == 0 and s[-1] == 9999 and v[-1] == values[-1]
    assert downsample([1, 2], [3.0, 4.0], 500) == ([1, 2], [3.0, 4.0])


def test_metric_series_compacts_when_points_pile_up():
    series = MetricSeries(max_points=100)
    series.extend((s, 1.0 / (s + 1)) for s in range(250))
    assert len(series.steps) == 100 and series.steps[-1] == 249
    series.extend([(250, float("nan")), (251, None)])  # NaN/None are skipped, not plotted
    assert series.steps[-1] == 249


def test_loss_and_lr_names_follow_the_ingest_prefixes():
    names = ["train/loss", "train/loss/mlm", "train/lr", "train/lr_cnn", "val/acc", "val/loss"]
    assert default_selection(names) == ["train/loss", "train/loss/mlm"]
    assert [n for n in names if is_lr(n)] == ["train/lr", "train/lr_cnn"]


def test_eval_columns_read_in_task_order():
    names = ["v2t/r1", "t2v/meanr", "acc/who", "t2v/r10", "acc", "t2v/r1", "t2v/medr", "t2v/r5", "other"]
    assert sorted(names, key=column_order) == ["acc", "acc/who", "t2v/r1", "t2v/r5", "t2v/r10", "t2v/medr",
                                               "t2v/meanr", "v2t/r1", "other"]
    assert column_label("v2t/medr") == "v2t MedR" and column_label("acc/what") == "acc/what"
    assert lower_is_better("t2v/meanr") and not lower_is_better("t2v/r10")


def test_log_tail_reads_whole_lines_only(tmp_path):
    log = tmp_path / "train.log"
    log.write_bytes(b"".join(b"line %d\n" % i for i in range(1000)) + b"partial")
    lines, offset = read_tail(log, tail_bytes=100)
    assert lines[-1] == "line 999" and not lines[0].startswith("ine")  # the cut first line is dropped
    assert len(lines) < 20
    with log.open("ab") as f:
        f.write(b" done\nnext\n")
    new, offset2 = read_new(log, offset)
    assert new == ["partial done", "next"] and offset2 == log.stat().st_size


def test_envelope_keeps_a_one_step_spike_at_any_length():
    from tui.widgets.loss_plot import envelope

    steps = list(range(200_000))
    values = [1.0] * len(steps)
    values[123_457] = 50.0  # one spike among 200k points
    xs, ys = envelope(steps, values, values, 100)
    assert len(xs) <= 200 and xs == sorted(xs) and xs[0] == 0
    assert max(ys) == 50.0 and 123_457 in xs
    # a bucket mean would have hidden it: 50 among ~2000 ones is ~1.02
    assert max(downsample(steps, values, 200)[1]) < 1.1


def test_metric_series_keeps_bucket_extremes_through_compaction():
    series = MetricSeries(max_points=50)
    series.extend([(0, 2.0, 1.0, 9.0)])  # a registry bucket: mean 2, min 1, max 9
    series.extend((s, 2.0) for s in range(1, 200))  # live points
    assert len(series.steps) <= 100 and series.steps[-1] == 199
    assert max(series.maxs) == 9.0 and min(series.mins) == 1.0
