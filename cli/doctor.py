"""`clpbert doctor`: what this machine and installation can do (never fails for a missing GPU)."""

import typer

from cli.common import JsonFlag


def doctor(json_: JsonFlag = False) -> None:
    """Check Python, torch/CUDA, the NVIDIA driver, video/LMDB libraries, the registry and disk."""
    from cli.output import print_fields, print_json
    from clpbert.app.doctor import collect

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
