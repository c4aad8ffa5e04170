"""What one look at the GPUs returns: plain dataclasses, every reading possibly "not available".

A reading the driver cannot give is `None`, and the reason sits beside it in `na[field]`
(e.g. ``{"power_w": "not supported by this GPU/driver"}``), so a UI shows `N/A` with a tooltip
instead of crashing. A machine without a driver is a normal `GpuSnapshot` with `driver=None`,
a `reason` and no GPUs.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

NA_TEXT = "N/A"
"""How every table, panel and listing shows a reading the driver did not give."""


def gpu_key(uuid: str | None, index: int | None) -> str:
    """How the registry names a GPU (reservations, samples, a run's GPUs): its UUID, else
    `index:<n>` for a GPU the driver gave no UUID."""
    return uuid or f"index:{index}"


@dataclass(frozen=True)
class ProcessReading:
    """One process the driver lists on a GPU (nvidia-smi's "Processes" table)."""

    pid: int
    """PID as the driver sees it; in a container this is the host's PID namespace."""
    gpu_index: int
    kind: str
    """`compute` (CUDA) or `graphics`."""
    used_memory_mib: float | None
    """None when the driver hides per-process memory (WDDM, MIG, no permission)."""


@dataclass
class GpuReading:
    """One GPU. Each numeric field is None where not available; `na` says why."""

    index: int
    """NVML index; with CUDA_DEVICE_ORDER=PCI_BUS_ID it equals the CUDA index."""
    uuid: str | None
    """`GPU-...` (nvidia-smi --query-gpu=uuid); the stable name a run stores."""
    name: str | None
    """Product name (nvidia-smi --query-gpu=name)."""
    utilization_pct: float | None = None
    """Percent of time a kernel ran in the last sample period (utilization.gpu)."""
    memory_used_mib: float | None = None
    """Framebuffer memory in use (memory.used)."""
    memory_total_mib: float | None = None
    """Framebuffer memory installed (memory.total)."""
    power_w: float | None = None
    """Board power draw in watts (power.draw)."""
    temperature_c: float | None = None
    """GPU core temperature (temperature.gpu)."""
    sm_clock_mhz: float | None = None
    """Current SM clock (clocks.sm)."""
    pci_bus_id: str | None = None
    processes: list[ProcessReading] | None = None
    """Processes on this GPU; None when the driver does not list them (see `na['processes']`)."""
    na: dict[str, str] = field(default_factory=dict)
    """field name -> why it is not available."""

    @property
    def memory_used_fraction(self) -> float | None:
        if self.memory_used_mib is None or not self.memory_total_mib:
            return None
        return self.memory_used_mib / self.memory_total_mib

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class GpuSnapshot:
    """Every GPU at one moment, or why there are none."""

    driver: str | None
    """Driver version (nvidia-smi's "Driver Version"), None without a working driver."""
    reason: str | None = None
    """Why `driver` is None or the list is empty (no NVML library, driver not loaded, ...)."""
    gpus: list[GpuReading] = field(default_factory=list)
    backend: str = "nvml"
    """`nvml`, or `fake:<scenario>` when CLPBERT_FAKE_NVML is set."""
    time: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; the shape `clpbert gpus --json` prints."""
        return {"driver": self.driver, "reason": self.reason, "backend": self.backend,
                "time": self.time, "gpus": [g.to_dict() for g in self.gpus]}

    def by_index(self, index: int) -> GpuReading | None:
        return next((g for g in self.gpus if g.index == index), None)

    def by_uuid(self, uuid: str) -> GpuReading | None:
        return next((g for g in self.gpus if g.uuid == uuid), None)


SAMPLE_COLUMNS: dict[str, str] = {
    "utilization_pct": "util",
    "memory_used_mib": "mem_used",
    "memory_total_mib": "mem_total",
    "power_w": "power",
    "temperature_c": "temperature",
}
"""GpuReading field -> its column in the registry's gpu_samples table (and GpuSample field). The
table keeps its short names (schema 0001); this mapping is the one place that converts."""


def sample_values(reading: GpuReading) -> dict[str, float | None]:
    """The gpu_samples columns of one reading (None stays None: N/A is stored as NULL)."""
    return {column: getattr(reading, attr) for attr, column in SAMPLE_COLUMNS.items()}


def reading_from_sample(sample: Any) -> GpuReading:
    """A stored GPU sample (registry GpuSample) as a reading, for views that draw readings: the
    panels show a run's recorded GPUs when it is not live on this host. Each missing value says why."""
    index = sample.gpu_index if sample.gpu_index is not None else -1
    reading = GpuReading(index=index, uuid=sample.gpu_uuid, name=None,
                         **{attr: getattr(sample, column) for attr, column in SAMPLE_COLUMNS.items()})
    labels = {"utilization_pct": "util", "memory_used_mib": "memory", "memory_total_mib": None,
              "power_w": "power", "temperature_c": "temperature"}
    for attr, label in labels.items():
        if label is not None and getattr(reading, attr) is None:
            reading.na[attr] = f"{label} was not available when the supervisor sampled it"
    reading.na.setdefault("name", "recorded sample (the run is not live on this host)")
    return reading


def fmt(value: float | None, unit: str = "", digits: int = 0) -> str:
    """`N/A` for a missing reading, else the number with its unit (for tables)."""
    if value is None:
        return NA_TEXT
    return f"{value:.{digits}f}{unit}"
