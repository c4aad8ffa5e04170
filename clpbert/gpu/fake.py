"""A fake NVML backend with fixed, repeatable GPUs, for tests and TUI snapshots.

Selected in any process with `CLPBERT_FAKE_NVML=<scenario>` or `CLPBERT_FAKE_NVML=/path/x.json`.
It implements the same `NvmlBackend` calls as pynvml, so the shared reading logic (NA handling,
process merging) is what the tests exercise. Scenarios:

    no-driver          NVML library missing: snapshot has driver=None and a reason
    2-gpus-idle        2 x H100, nothing running
    8-gpus-idle        8 x H100, nothing running
    8-gpus-busy        8 x H100, each running a foreign process (pids 40000+i)
    8-gpus-mixed       8 x H100, GPUs 0-3 busy as above, 4-7 idle
    unsupported-field  2 GPUs; power is "not supported", GPU 1 also hides processes
    container          2 GPUs with memory in use but no processes listed (PID namespace)

A JSON file gives full control and is re-read at every snapshot, so a test can change it
while a supervisor runs:

    {"driver": "550.54.15", "reason": null,
     "gpus": [{"name": "NVIDIA H100", "uuid": "GPU-...", "utilization_pct": 0,
               "memory_used_mib": 0, "memory_total_mib": 81559, "power_w": 70,
               "temperature_c": 30, "sm_clock_mhz": 1980,
               "processes": [{"pid": 123, "used_memory_mib": 500, "kind": "compute"}],
               "unsupported": ["power_w"]}]}

`"driver": null` means no driver (the `reason` is reported); `"processes": null` hides them.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from clpbert.errors import UserError
from clpbert.gpu.nvml import MIB, FieldUnavailable, NvmlBackend, NvmlUnavailable

H100_MIB = 81559.0
NO_DRIVER_REASON = "no NVIDIA driver: libnvidia-ml.so not found (fake NVML scenario no-driver)"
UNSUPPORTED = "not supported by this GPU/driver"


def fake_uuid(index: int) -> str:
    """A stable UUID in NVIDIA's format for fake GPU `index`."""
    return f"GPU-{index:08x}-fa4e-4000-8000-{index:012x}"


def _gpu(index: int, busy: bool = False, **over: Any) -> dict[str, Any]:
    gpu = {
        "name": "NVIDIA H100 80GB HBM3",
        "uuid": fake_uuid(index),
        "pci_bus_id": f"00000000:{0x18 + index * 0x10:02X}:00.0",
        "utilization_pct": 97.0 if busy else 0.0,
        "memory_used_mib": 61440.0 if busy else 0.0,
        "memory_total_mib": H100_MIB,
        "power_w": 612.0 if busy else 71.0,
        "temperature_c": 66.0 if busy else 31.0,
        "sm_clock_mhz": 1980.0 if busy else 345.0,
        "processes": [{"pid": 40000 + index, "used_memory_mib": 61430.0, "kind": "compute"}] if busy else [],
        "unsupported": [],
    }
    gpu.update(over)
    return gpu


def _scenario(name: str) -> dict[str, Any]:
    driver = "550.54.15"
    if name == "no-driver":
        return {"driver": None, "reason": NO_DRIVER_REASON, "gpus": []}
    if name == "2-gpus-idle":
        return {"driver": driver, "gpus": [_gpu(i) for i in range(2)]}
    if name == "8-gpus-idle":
        return {"driver": driver, "gpus": [_gpu(i) for i in range(8)]}
    if name == "8-gpus-busy":
        return {"driver": driver, "gpus": [_gpu(i, busy=True) for i in range(8)]}
    if name == "8-gpus-mixed":
        return {"driver": driver, "gpus": [_gpu(i, busy=i < 4) for i in range(8)]}
    if name == "unsupported-field":
        return {"driver": driver, "gpus": [_gpu(0, unsupported=["power_w"]),
                                           _gpu(1, busy=True, unsupported=["power_w", "processes"])]}
    if name == "container":
        return {"driver": driver, "gpus": [_gpu(i, busy=True, processes=None) for i in range(2)]}
    raise UserError(f"CLPBERT_FAKE_NVML={name!r} is neither a scenario ({', '.join(SCENARIOS)}) "
                    "nor an existing JSON file")


SCENARIOS = ("no-driver", "2-gpus-idle", "8-gpus-idle", "8-gpus-busy", "8-gpus-mixed",
             "unsupported-field", "container")


class FakeBackend(NvmlBackend):
    """NvmlBackend over a dict (a named scenario or a JSON file re-read on every snapshot)."""

    def __init__(self, data: dict[str, Any] | None = None, path: Path | None = None,
                 label: str = "custom") -> None:
        self._data = copy.deepcopy(data) if data is not None else None
        self._path = path
        self.name = f"fake:{label}"

    @classmethod
    def from_spec(cls, spec: str) -> FakeBackend:
        """A scenario name (underscores allowed) or a path to a JSON file."""
        key = spec.strip().lower().replace("_", "-")
        if key in SCENARIOS:
            return cls(_scenario(key), label=key)
        path = Path(spec).expanduser()
        if path.suffix == ".json" or path.exists():
            return cls(path=path, label=path.name)
        return cls(_scenario(key), label=key)  # raises the UserError listing scenarios

    def _state(self) -> dict[str, Any]:
        if self._path is not None:
            try:
                return json.loads(self._path.read_text())
            except (OSError, ValueError) as e:
                raise NvmlUnavailable(f"fake NVML file {self._path} unreadable: {e}") from None
        assert self._data is not None
        return self._data

    def init(self) -> None:
        state = self._state()
        if state.get("driver") is None:
            raise NvmlUnavailable(state.get("reason") or NO_DRIVER_REASON)

    def driver_version(self) -> str:
        return str(self._state()["driver"])

    def device_count(self) -> int:
        state = self._state()  # re-read: a test may have changed the file
        if state.get("driver") is None:
            raise NvmlUnavailable(state.get("reason") or NO_DRIVER_REASON)
        self._gpus = state.get("gpus", [])
        return len(self._gpus)

    def handle(self, index: int) -> Any:
        gpus = getattr(self, "_gpus", None)
        if gpus is None:
            self.device_count()
            gpus = self._gpus
        if not 0 <= index < len(gpus):
            raise FieldUnavailable(f"no GPU with index {index}")
        return gpus[index]

    def _field(self, h: dict[str, Any], name: str) -> Any:
        if name in h.get("unsupported", []):
            raise FieldUnavailable(UNSUPPORTED)
        value = h.get(name)
        if value is None:
            raise FieldUnavailable(UNSUPPORTED)
        return value

    def uuid(self, h: Any) -> str:
        return str(self._field(h, "uuid"))

    def device_name(self, h: Any) -> str:
        return str(self._field(h, "name"))

    def pci_bus_id(self, h: Any) -> str:
        return str(self._field(h, "pci_bus_id"))

    def utilization_pct(self, h: Any) -> float:
        return float(self._field(h, "utilization_pct"))

    def memory_bytes(self, h: Any) -> tuple[int, int]:
        used, total = self._field(h, "memory_used_mib"), self._field(h, "memory_total_mib")
        return int(used * MIB), int(total * MIB)

    def power_mw(self, h: Any) -> float:
        return float(self._field(h, "power_w")) * 1000.0

    def temperature_c(self, h: Any) -> float:
        return float(self._field(h, "temperature_c"))

    def sm_clock_mhz(self, h: Any) -> float:
        return float(self._field(h, "sm_clock_mhz"))

    def _procs(self, h: Any, kind: str) -> list[tuple[int, int | None]]:
        if "processes" in h.get("unsupported", []):
            raise FieldUnavailable(UNSUPPORTED)
        procs = h.get("processes")
        if procs is None:  # the driver lists nothing (container PID namespace)
            return []
        out: list[tuple[int, int | None]] = []
        for p in procs:
            if p.get("kind", "compute") == kind:
                used = p.get("used_memory_mib")
                out.append((int(p["pid"]), None if used is None else int(used * MIB)))
        return out

    def compute_processes(self, h: Any) -> list[tuple[int, int | None]]:
        return self._procs(h, "compute")

    def graphics_processes(self, h: Any) -> list[tuple[int, int | None]]:
        return self._procs(h, "graphics")
