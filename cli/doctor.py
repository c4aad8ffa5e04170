"""`clpbert doctor`: what this machine and installation can do (never fails for a missing GPU)."""

import contextlib
import platform
import shutil
import sys
from typing import Any

import typer

from cli.common import JsonFlag


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
    from clpbert.app.registry import head_revision, safe_url
    from clpbert.errors import UserError

    url = paths.db_url()
    info: dict[str, Any] = {"url": safe_url(url), "head": head_revision()}
    try:
        from clpbert.app.registry import open_registry

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


def doctor(json_: JsonFlag = False) -> None:
    """Check Python, torch/CUDA, the NVIDIA driver, video/LMDB libraries, the registry and disk."""
    from cli.output import print_fields, print_json

    info = collect()
    if json_:
        print_json(info)
        return
    t, n, r = info["torch"], info["nvml"], info["registry"]
    cuda = (f"yes: {', '.join(t['devices'])}" if t.get("cuda_available")
            else "no (CPU only)")
    nvml = (f"driver {n['driver']}, {n['gpus']} GPU(s)" if n["available"]
            else f"not available: {n['reason']}")
    reg = (f"{r['url']} (schema {r['revision']}, {r['runs']} runs)" if r.get("reachable")
           else f"{r['url']}: {r.get('error')}")
    libs = ", ".join(f"{k} {v or 'MISSING'}" for k, v in info["libraries"].items())
    found = [k for k, v in info["slurm"].items() if v]
    slurm = (", ".join(found) + " on PATH" if found
             else "not on PATH (--slurm writes job scripts; submit them where sbatch is)")
    print_fields([
        ("clpbert", info["clpbert"]),
        ("python", f"{info['python']} ({info['platform']})"),
        ("torch", t.get("torch") or f"MISSING ({t.get('error')})"),
        ("cuda", cuda),
        ("nvml", nvml),
        ("libraries", libs),
        ("registry", reg),
        ("slurm", slurm),
        ("home", info["home"]),
        ("disk free", f"{info['disk_free_gb']} GiB"),
    ])


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)
