"""GPU readings through NVML: a small backend interface, the real pynvml backend, and the
reading logic shared by every backend (so the fake backend in tests runs the same code).

    monitor = GpuMonitor()           # picks the backend (CLPBERT_FAKE_NVML selects the fake one)
    snap = monitor.snapshot()        # GpuSnapshot; never raises for a missing driver
    monitor.close()

No driver is a normal mode: `snapshot()` returns `driver=None` with a `reason` and no GPUs.
A single reading the GPU cannot give (power on some boards, processes inside containers) is
None with the reason in `GpuReading.na`.

Backend selection: env `CLPBERT_FAKE_NVML=<scenario>` or `=<path.json>` selects
`clpbert.gpu.fake.FakeBackend` in every process that reads GPUs (supervisor, CLI, TUI); see
clpbert/gpu/fake.py for the scenarios. Anything else uses pynvml (package nvidia-ml-py).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from abc import ABC, abstractmethod
from typing import Any

from clpbert.gpu.readings import GpuReading, GpuSnapshot, ProcessReading

FAKE_ENV = "CLPBERT_FAKE_NVML"
MIB = 1024 * 1024


class NvmlUnavailable(Exception):
    """NVML as a whole cannot be used (no library, no driver); the message is the reason."""


class FieldUnavailable(Exception):
    """One reading is not available on this GPU/driver; the message is the reason."""


class NvmlBackend(ABC):
    """The calls the reading logic needs; each returns raw values or raises FieldUnavailable.

    Mirrors pynvml one call per reading, so a fake can make any single reading unsupported.
    """

    name = "nvml"

    @abstractmethod
    def init(self) -> None:
        """Open NVML; raise NvmlUnavailable(reason) when there is no usable driver."""

    def shutdown(self) -> None:  # noqa: B027 - optional hook, most backends have nothing to release
        """Release NVML (optional)."""

    @abstractmethod
    def driver_version(self) -> str: ...

    @abstractmethod
    def device_count(self) -> int: ...

    @abstractmethod
    def handle(self, index: int) -> Any: ...

    @abstractmethod
    def uuid(self, h: Any) -> str: ...

    @abstractmethod
    def device_name(self, h: Any) -> str: ...

    @abstractmethod
    def pci_bus_id(self, h: Any) -> str: ...

    @abstractmethod
    def utilization_pct(self, h: Any) -> float: ...

    @abstractmethod
    def memory_bytes(self, h: Any) -> tuple[int, int]:
        """(used, total) framebuffer bytes."""

    @abstractmethod
    def power_mw(self, h: Any) -> float: ...

    @abstractmethod
    def temperature_c(self, h: Any) -> float: ...

    @abstractmethod
    def sm_clock_mhz(self, h: Any) -> float: ...

    @abstractmethod
    def compute_processes(self, h: Any) -> list[tuple[int, int | None]]:
        """[(pid, used bytes or None)] of CUDA processes."""

    @abstractmethod
    def graphics_processes(self, h: Any) -> list[tuple[int, int | None]]: ...


# ------------------------------------------------------------------------------------------
# The real backend
# ------------------------------------------------------------------------------------------


def _nvml_reason(exc: Exception) -> str:
    """A user-facing reason for an NVML error code (what is wrong, not the C constant)."""
    import pynvml

    code = getattr(exc, "value", None)
    reasons = {
        pynvml.NVML_ERROR_NOT_SUPPORTED: "not supported by this GPU/driver",
        pynvml.NVML_ERROR_NO_PERMISSION: "no permission (NVML)",
        pynvml.NVML_ERROR_DRIVER_NOT_LOADED: "NVIDIA driver not loaded",
        pynvml.NVML_ERROR_LIBRARY_NOT_FOUND: NO_DRIVER,
        pynvml.NVML_ERROR_FUNCTION_NOT_FOUND: "not available in this driver version",
        pynvml.NVML_ERROR_GPU_IS_LOST: "GPU is lost (fell off the bus; needs a reset)",
        pynvml.NVML_ERROR_UNKNOWN: "unknown NVML error",
    }
    return reasons.get(code, f"NVML error: {exc}")


NVML_LIBRARY = "libnvidia-ml.so.1"
NO_DRIVER = ("no NVIDIA driver: libnvidia-ml.so not found (a CPU-only machine, or a container "
             "started without GPU access)")


def _probe_library() -> None:
    """On Linux, fail fast without importing pynvml when the driver's NVML library is absent (the
    library pynvml would load; `clpbert gpus --json` on a CPU machine pays nothing more)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        ctypes.CDLL(NVML_LIBRARY)
    except OSError:
        raise NvmlUnavailable(NO_DRIVER) from None


class PynvmlBackend(NvmlBackend):
    """NVML through pynvml (nvidia-ml-py)."""

    name = "nvml"

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def _call(self, fn: Any, *args: Any) -> Any:
        import pynvml

        try:
            return fn(*args)
        except pynvml.NVMLError as e:
            raise FieldUnavailable(_nvml_reason(e)) from None

    def init(self) -> None:
        _probe_library()
        try:
            import pynvml
        except ImportError:
            raise NvmlUnavailable("the nvidia-ml-py package (pynvml) is not installed") from None
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as e:
            raise NvmlUnavailable(_nvml_reason(e)) from None
        except OSError as e:  # a broken libnvidia-ml.so
            raise NvmlUnavailable(f"cannot load NVML: {e}") from None

    def shutdown(self) -> None:
        import pynvml

        with contextlib.suppress(pynvml.NVMLError):
            pynvml.nvmlShutdown()

    def driver_version(self) -> str:
        import pynvml

        return str(self._call(pynvml.nvmlSystemGetDriverVersion))

    def device_count(self) -> int:
        import pynvml

        try:
            return int(pynvml.nvmlDeviceGetCount())
        except pynvml.NVMLError as e:
            raise NvmlUnavailable(_nvml_reason(e)) from None

    def handle(self, index: int) -> Any:
        import pynvml

        return self._call(pynvml.nvmlDeviceGetHandleByIndex, index)

    def uuid(self, h: Any) -> str:
        import pynvml

        return str(self._call(pynvml.nvmlDeviceGetUUID, h))

    def device_name(self, h: Any) -> str:
        import pynvml

        return str(self._call(pynvml.nvmlDeviceGetName, h))

    def pci_bus_id(self, h: Any) -> str:
        import pynvml

        bus = self._call(pynvml.nvmlDeviceGetPciInfo, h).busId  # a ctypes char array: bytes
        return bus.decode("ascii", "replace") if isinstance(bus, bytes) else str(bus)

    def utilization_pct(self, h: Any) -> float:
        import pynvml

        return float(self._call(pynvml.nvmlDeviceGetUtilizationRates, h).gpu)

    def memory_bytes(self, h: Any) -> tuple[int, int]:
        import pynvml

        mem = self._call(pynvml.nvmlDeviceGetMemoryInfo, h)
        return int(mem.used), int(mem.total)

    def power_mw(self, h: Any) -> float:
        import pynvml

        return float(self._call(pynvml.nvmlDeviceGetPowerUsage, h))

    def temperature_c(self, h: Any) -> float:
        import pynvml

        return float(self._call(pynvml.nvmlDeviceGetTemperature, h, pynvml.NVML_TEMPERATURE_GPU))

    def sm_clock_mhz(self, h: Any) -> float:
        import pynvml

        return float(self._call(pynvml.nvmlDeviceGetClockInfo, h, pynvml.NVML_CLOCK_SM))

    def _processes(self, h: Any, base: str) -> list[tuple[int, int | None]]:
        """Try the v3, v2, then v1 entry points: old drivers lack the newer ones."""
        import pynvml

        last: Exception | None = None
        for suffix in ("_v3", "_v2", ""):
            fn = getattr(pynvml, base + suffix, None)
            if fn is None:
                continue
            try:
                procs = fn(h)
            except pynvml.NVMLError as e:
                last = e
                if e.value in (pynvml.NVML_ERROR_FUNCTION_NOT_FOUND,
                               pynvml.NVML_ERROR_ARGUMENT_VERSION_MISMATCH):
                    continue
                break
            return [(int(p.pid), None if p.usedGpuMemory is None else int(p.usedGpuMemory))
                    for p in procs]
        raise FieldUnavailable(_nvml_reason(last) if last else "process listing not available")

    def compute_processes(self, h: Any) -> list[tuple[int, int | None]]:
        return self._processes(h, "nvmlDeviceGetComputeRunningProcesses")

    def graphics_processes(self, h: Any) -> list[tuple[int, int | None]]:
        return self._processes(h, "nvmlDeviceGetGraphicsRunningProcesses")


# ------------------------------------------------------------------------------------------
# Reading logic (backend independent)
# ------------------------------------------------------------------------------------------


def get_backend(environ: dict[str, str] | None = None) -> NvmlBackend:
    """The fake backend when CLPBERT_FAKE_NVML is set (scenario name or JSON file), else pynvml."""
    env = os.environ if environ is None else environ
    spec = env.get(FAKE_ENV, "").strip()
    if spec:
        from clpbert.gpu.fake import FakeBackend

        return FakeBackend.from_spec(spec)
    return PynvmlBackend()


def _read(reading: GpuReading, name: str, fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except FieldUnavailable as e:
        reading.na[name] = str(e)
        return None


def read_gpu(backend: NvmlBackend, index: int) -> GpuReading:
    """Every reading of one GPU; each failure becomes None + a reason, never an exception."""
    try:
        h = backend.handle(index)
    except FieldUnavailable as e:
        return GpuReading(index=index, uuid=None, name=None, processes=None,
                          na={"device": str(e)})
    r = GpuReading(index=index, uuid=None, name=None)
    r.uuid = _read(r, "uuid", backend.uuid, h)
    r.name = _read(r, "name", backend.device_name, h)
    r.pci_bus_id = _read(r, "pci_bus_id", backend.pci_bus_id, h)
    r.utilization_pct = _read(r, "utilization_pct", backend.utilization_pct, h)
    mem = _read(r, "memory", backend.memory_bytes, h)
    if mem is None:
        r.na["memory_used_mib"] = r.na["memory_total_mib"] = r.na.pop("memory")
    else:
        r.memory_used_mib, r.memory_total_mib = mem[0] / MIB, mem[1] / MIB
    power = _read(r, "power_w", backend.power_mw, h)
    r.power_w = None if power is None else power / 1000.0
    r.temperature_c = _read(r, "temperature_c", backend.temperature_c, h)
    r.sm_clock_mhz = _read(r, "sm_clock_mhz", backend.sm_clock_mhz, h)
    r.processes = _read_processes(backend, h, r)
    return r


def _read_processes(backend: NvmlBackend, h: Any, r: GpuReading) -> list[ProcessReading] | None:
    """Compute and graphics lists merged (a pid in both counts once, as compute)."""
    found: dict[int, ProcessReading] = {}
    reasons = []
    ok = False
    for kind, fn in (("compute", backend.compute_processes), ("graphics", backend.graphics_processes)):
        try:
            procs = fn(h)
        except FieldUnavailable as e:
            reasons.append(f"{kind}: {e}")
            continue
        ok = True
        for pid, used in procs:
            if pid not in found:
                found[pid] = ProcessReading(pid=pid, gpu_index=r.index, kind=kind,
                                            used_memory_mib=None if used is None else used / MIB)
    if not ok:
        texts = [t.split(": ", 1)[1] for t in reasons]
        r.na["processes"] = texts[0] if len(set(texts)) == 1 else "; ".join(reasons)
        return None
    return sorted(found.values(), key=lambda p: p.pid)


class GpuMonitor:
    """A long-lived reader: opens NVML once, then `snapshot()` as often as needed (1 Hz)."""

    def __init__(self, backend: NvmlBackend | None = None) -> None:
        self.backend = backend or get_backend()
        self._opened = False
        self._unavailable: str | None = None

    def _open(self) -> None:
        if self._opened or self._unavailable:
            return
        try:
            self.backend.init()
            self._opened = True
        except NvmlUnavailable as e:
            self._unavailable = str(e)

    def snapshot(self) -> GpuSnapshot:
        """All GPUs now; without a driver, `driver=None` and the reason."""
        self._open()
        if self._unavailable:
            return GpuSnapshot(driver=None, reason=self._unavailable, backend=self.backend.name)
        try:
            count = self.backend.device_count()
        except NvmlUnavailable as e:
            return GpuSnapshot(driver=None, reason=str(e), backend=self.backend.name)
        try:
            driver: str | None = self.backend.driver_version()
        except FieldUnavailable:
            driver = "unknown"
        snap = GpuSnapshot(driver=driver, backend=self.backend.name,
                           gpus=[read_gpu(self.backend, i) for i in range(count)])
        if count == 0:
            snap.reason = "the driver reports no GPUs"
        return snap

    def close(self) -> None:
        if self._opened:
            self.backend.shutdown()
            self._opened = False

    def __enter__(self) -> GpuMonitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def gpu_snapshot(backend: NvmlBackend | None = None) -> GpuSnapshot:
    """One-shot reading of every GPU (opens and closes NVML)."""
    with GpuMonitor(backend) as monitor:
        return monitor.snapshot()
