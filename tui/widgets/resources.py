"""Where a run's time and machine go, above its GPU panels: step time split, data wait, process tree.

"Why is GPU utilisation low?" is answered here in one place: the trainer's split of each step
(data wait, forward+backward, optimizer, communication), the data-wait fraction as a curve, the
one-line loader-bound verdict `runs show` also prints, and the supervisor's 1 Hz readings of the
run's whole process tree (CPU %, resident memory, storage reads).
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, Sparkline, Static

from tui import formatting as fmt
from tui.data import DATA_FRAC_METRIC, ProcessSample, loader_verdict
from tui.widgets.loss_plot import MetricStore
from tui.widgets.text_update import update_if_changed

PHASES = (("data_s", "data wait"), ("fwd_bwd_s", "fwd+bwd"), ("optimizer_s", "optimizer"), ("comm_s", "comm"))
CURVE_POINTS = 120


def _latest(store: MetricStore, name: str) -> float | None:
    series = store.series.get(f"train/time/{name}")
    return series.values[-1] if series and series.values else None


def step_split(store: MetricStore) -> Text:
    """`step 1.20 s: data wait 0.45 s (38%), fwd+bwd ...` from the latest logged step."""
    step = _latest(store, "step_s")
    if step is None:
        return Text("step time: not logged yet", style="dim")
    frac = _latest(store, "data_frac")
    text = Text.assemble(("step ", "bold"), f"{step:.3f} s: ")
    for i, (name, label) in enumerate(PHASES):
        value = _latest(store, name)
        text.append(("" if i == 0 else ", ") + f"{label} {fmt.number(value)} s")
        if name == "data_s" and frac is not None:
            text.append(f" ({frac:.0%})", style="bold yellow" if loader_verdict(frac) else "")
    return text


def tree_line(samples: Sequence[ProcessSample]) -> Text:
    """The newest process-tree reading, or why there is none."""
    if not samples:
        return Text("process tree: no sample (the supervisor records one per second while the run is live)",
                    style="dim")
    s = samples[-1]
    rss = "N/A" if s.rss_mib is None else f"{s.rss_mib / 1024:.2f} GiB"
    return Text.assemble(("CPU ", "bold"), f"{fmt.number(s.cpu_pct)}%   ", ("memory ", "bold"), f"{rss}   ",
                         ("read ", "bold"), f"{fmt.number(s.read_mib_s)} MiB/s   ",
                         ("processes ", "bold"), str(s.processes), (f"   on {s.host}", "dim"))


class ResourcesSummary(Vertical):
    """The lines above the GPU panels, refreshed with the run's data."""

    DEFAULT_CSS = """
    ResourcesSummary { height: auto; padding: 0 1; }
    ResourcesSummary Sparkline { height: 2; margin: 0 0 1 0; }
    ResourcesSummary #verdict { color: $warning; text-style: bold; }
    """

    def compose(self) -> ComposeResult:
        yield Static("", id="step-split")
        yield Label("data wait (share of step time, per logged step)", classes="caption")
        yield Sparkline([], id="data-wait-curve")
        yield Static("", id="tree-line")
        yield Static("", id="verdict")

    def show(self, store: MetricStore, samples: Sequence[ProcessSample]) -> None:
        update_if_changed(self.query_one("#step-split", Static), step_split(store))
        series = store.series.get(DATA_FRAC_METRIC)
        curve = self.query_one("#data-wait-curve", Sparkline)
        curve.data = list(series.values[-CURVE_POINTS:]) if series else []
        update_if_changed(self.query_one("#tree-line", Static), tree_line(samples))
        verdict = loader_verdict(_latest(store, "data_frac"))
        line = self.query_one("#verdict", Static)
        update_if_changed(line, verdict or "")
        line.display = verdict is not None
