"""What this machine and installation can do (`clpbert doctor`): versions, torch/CUDA, the NVIDIA
driver, video and LMDB libraries, the registry, Slurm tools and disk. A missing GPU, driver or
library is an answer, never an error."""

from __future__ import annotations

import contextlib
import platform
import shutil
import sys
from typing import Any


def _version_of(module: str) -> str | None:
    try:
        mod = __import__(module)
    except Exception:
        return None
    return str(getattr(mod, "__version__", "installed"))


def _torch_info() -> dict[str, Any]:
    try:
        import torch
    except Exception as e:
        return {"torch": None, "cuda_available": False, "error": str(e).splitlines()[0]}
    info: dict[str, Any] = {"torch": torch.__version__, "cuda_build": torch.version.cuda,
                            "cuda_available": bool(torch.cuda.is_available()), "devices": []}
    if info["cuda_available"]:
        info["devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return info


def _nvml_info() -> dict[str, Any]:
    """NVML driver version and GPU count; no driver/library is a normal answer, not an error."""
    try:
        import pynvml
    except Exception:
        return {"available": False, "reason": "nvidia-ml-py not installed"}
    try:
        pynvml.nvmlInit()
    except Exception as e:
        return {"available": False, "reason": f"no NVIDIA driver ({type(e).__name__})"}
    try:
        driver = pynvml.nvmlSystemGetDriverVersion()
        count = pynvml.nvmlDeviceGetCount()
        return {"available": True, "driver": driver.decode() if isinstance(driver, bytes) else driver,
                "gpus": count}
    except Exception as e:
        return {"available": False, "reason": str(e)}
    finally:
        with contextlib.suppress(Exception):
            pynvml.nvmlShutdown()


def _registry_info() -> dict[str, Any]:
    from clpbert import paths
    from clpbert.errors import UserError
    from clpbert.registry.db import head_revision, safe_url

    url = paths.db_url()
    info: dict[str, Any] = {"url": safe_url(url), "head": head_revision()}
    try:
        from clpbert.registry import open_registry

        with open_registry(url) as reg:
            info.update(reachable=True, revision=reg.revision, runs=reg.count_runs())
    except UserError as e:
        info.update(reachable=False, error=str(e))
    return info


def _slurm_info() -> dict[str, Any]:
    """Which Slurm tools are on PATH: sbatch for `run --slurm --submit`, squeue to notice a job
    that ended without its trainer's finish event (clpbert.runs.slurm_sync)."""
    return {tool: shutil.which(tool) for tool in ("sbatch", "squeue")}


def collect() -> dict[str, Any]:
    """Versions, GPU and driver, libraries, registry, Slurm tools, home and free disk."""
    from clpbert import __version__, paths

    home = paths.home()
    probe = home if home.exists() else home.parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    usage = shutil.disk_usage(probe)
    return {
        "clpbert": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": _torch_info(),
        "nvml": _nvml_info(),
        "libraries": {m: _version_of(m) for m in ("decord", "av", "lmdb", "transformers", "sqlalchemy")},
        "registry": _registry_info(),
        "slurm": _slurm_info(),
        "home": str(home),
        "disk_free_gb": round(usage.free / 2**30, 1),
    }
