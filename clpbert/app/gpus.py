"""GPUs, as the front-ends show them: live readings (`GpuMonitor`), the runs using each GPU
(`gpu_users`, gpu_users.py) and how a reading prints (`fmt`, `NA_TEXT` when missing). Named lazily
(facade.py): NVML loads only when a command reads it."""

from __future__ import annotations

from clpbert.app.facade import lazy_exports

_HOMES = {
    "GpuMonitor": "clpbert.gpu.nvml",
    "NA_TEXT": "clpbert.gpu.readings", "fmt": "clpbert.gpu.readings",
    **dict.fromkeys(("gpu_users", "gpu_users_now", "GpuUsers", "snapshot_with_users"),
                    "clpbert.app.gpu_users"),
}
__all__ = sorted(_HOMES)
__getattr__, __dir__ = lazy_exports(_HOMES)
