"""One GPU at a glance: utilization and memory bars, power, temperature with a sparkline.

Every reading may be missing (old driver, MIG, container without permission): the panel shows
`N/A` in its place and lists why underneath (the reason NVML gave, from `GpuReading.na`), the
nvitop way, instead of failing. The panel keeps a short history of its own readings for the
sparklines, seeded from the registry's samples when the screen has them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, Sparkline, Static

from clpbert.gpu.readings import GpuReading
from tui import formatting as fmt
from tui.widgets.text_update import update_if_changed

HISTORY = 120
"""Samples kept for the sparklines (two minutes at the 1 Hz refresh)."""

_FIELD_LABELS = {
    "utilization_pct": "util",
    "memory_used_mib": "memory",
    "memory_total_mib": "memory",
    "power_w": "power",
    "temperature_c": "temperature",
    "sm_clock_mhz": "SM clock",
    "processes": "processes",
    "device": "device",
    "uuid": "uuid",
    "name": "name",
    "pci_bus_id": "PCI bus id",
}


def bar(fraction: float | None, width: int = 20) -> Text:
    """`███████░░░░░` coloured green → yellow → red as it fills; dim dots when N/A."""
    if fraction is None:
        return Text("·" * width, style="dim")
    fraction = min(max(fraction, 0.0), 1.0)
    filled = round(fraction * width)
    colour = "green" if fraction < 0.6 else "yellow" if fraction < 0.85 else "red"
    return Text.assemble(("█" * filled, colour), ("░" * (width - filled), "dim"))


def na_reasons(reading: GpuReading) -> list[str]:
    """One line per distinct missing reading: `power: not supported by this GPU/driver`."""
    seen: dict[str, str] = {}
    for field, why in reading.na.items():
        seen.setdefault(_FIELD_LABELS.get(field, field), why)
    return [f"{label}: {why}" for label, why in seen.items()]


def summary(reading: GpuReading) -> Text:
    """The bars and numbers, as two lines of text."""
    mem_frac = reading.memory_used_fraction
    util = None if reading.utilization_pct is None else reading.utilization_pct / 100
    mem_text = (fmt.NA if reading.memory_used_mib is None
                else f"{reading.memory_used_mib:,.0f}/{reading.memory_total_mib or 0:,.0f} MiB")
    power = fmt.NA if reading.power_w is None else f"{reading.power_w:.0f} W"
    temp = fmt.NA if reading.temperature_c is None else f"{reading.temperature_c:.0f}°C"
    return Text.assemble(
        ("util ", "bold"), bar(util), f" {fmt.percent(reading.utilization_pct):>4}   ",
        ("mem ", "bold"), bar(mem_frac), f" {mem_text}\n",
        ("power ", "bold"), f"{power:<8}", ("temp ", "bold"), f"{temp:<7}",
    )


class GpuPanel(Vertical):
    """A bordered box for one GPU; `update_reading` refreshes it in place."""

    DEFAULT_CSS = """
    GpuPanel { height: auto; border: round $primary; padding: 0 1; }
    GpuPanel.-na { border: round $warning; }
    GpuPanel .gpu-title { text-style: bold; }
    GpuPanel .gpu-na { color: $warning; }
    GpuPanel Horizontal { height: 1; }
    GpuPanel .gpu-spark-label { width: 6; color: $text-muted; }
    GpuPanel Sparkline { height: 1; width: 1fr; }
    """

    def __init__(self, index: int, *, title_suffix: str = "", id: str | None = None) -> None:
        super().__init__(id=id)
        self.index = index
        self.title_suffix = title_suffix
        self.temps: deque[float] = deque(maxlen=HISTORY)
        self.utils: deque[float] = deque(maxlen=HISTORY)
        self.reading: GpuReading | None = None
        self._pending: tuple | None = None
        self._ready = False

    def compose(self) -> ComposeResult:
        yield Label(f"GPU {self.index}", classes="gpu-title")
        yield Static("", classes="gpu-summary")
        with Horizontal(classes="gpu-spark-util"):
            yield Label("util", classes="gpu-spark-label")
            yield Sparkline([], id="spark-util")
        with Horizontal(classes="gpu-spark-temp"):
            yield Label("temp", classes="gpu-spark-label")
            yield Sparkline([], id="spark-temp")
        yield Static("", classes="gpu-na")

    def seed_history(self, temps: Iterable[float | None], utils: Iterable[float | None]) -> None:
        """Older samples (from the registry) so the sparkline is not empty on open."""
        self.temps.extend(t for t in temps if t is not None)
        self.utils.extend(u for u in utils if u is not None)

    def on_mount(self) -> None:
        self._ready = True
        if self._pending is not None:
            reading, missing_reason, runs = self._pending
            self.update_reading(reading, missing_reason=missing_reason, runs=runs)

    def update_reading(self, reading: GpuReading | None, *, missing_reason: str = "",
                       runs: str = "") -> None:
        """Show a new reading (kept until mounted if the panel is still being composed)."""
        if not self._ready:
            self._pending = (reading, missing_reason, runs)
            return
        self.reading = reading
        title = self.query_one(".gpu-title", Label)
        summary_widget = self.query_one(".gpu-summary", Static)
        na = self.query_one(".gpu-na", Static)
        suffix = f" · {runs}" if runs else self.title_suffix
        if reading is None:
            update_if_changed(title, f"GPU {self.index}{suffix}")
            missing = Text(f"{fmt.NA}: {missing_reason or 'no reading'}", style="dim")
            update_if_changed(summary_widget, missing)
            update_if_changed(na, "")
            self.add_class("-na")
            return
        if reading.temperature_c is not None:
            self.temps.append(reading.temperature_c)
        if reading.utilization_pct is not None:
            self.utils.append(reading.utilization_pct)
        uuid = (reading.uuid or "")[:12]
        update_if_changed(title, f"GPU {reading.index} · {reading.name or fmt.NA} · {uuid}{suffix}")
        update_if_changed(summary_widget, summary(reading))
        for name, history in (("temp", self.temps), ("util", self.utils)):
            self.query_one(f"#spark-{name}", Sparkline).data = list(history)
            self.query_one(f".gpu-spark-{name}").display = len(history) > 1
        reasons = na_reasons(reading)
        update_if_changed(na, "\n".join(f"{fmt.NA} {r}" for r in reasons))
        na.display = bool(reasons)
        self.set_class(bool(reasons), "-na")
