from __future__ import annotations

import os
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from clpbert.errors import UserError
from clpbert.runs.gpu_spec import GpuRef
from clpbert.runs.launch import (
    SlurmOptions,
    Topology,
    nproc_per_node,
    slurm_script,
    trainer_command,
    trainer_env,
)


def test_single_node_command_uses_a_private_rendezvous() -> None:
    argv = trainer_command("/r/config.yaml", 2, python="py")
    assert argv == ["py", "-m", "torch.distributed.run", "--nproc-per-node", "2", "--standalone",
                    "--nnodes", "1", "-m", "clpbert.train", "--config", "/r/config.yaml"]
    assert trainer_command("/r/c.yaml", 1, resume=True, python="py")[-1] == "--resume"


def test_multi_node_passes_through_to_torchrun_rendezvous() -> None:
    argv = trainer_command("c.yaml", 8, Topology(nnodes=2, node_rank=1, rdzv_endpoint="node0:29500"))
    joined = " ".join(argv)
    assert "--nnodes 2 --node-rank 1 --rdzv-backend static --rdzv-endpoint node0:29500" in joined
    assert "--standalone" not in argv


@pytest.mark.parametrize("kw, message", [
    ({"nnodes": 2}, "needs --rdzv-endpoint"),
    ({"nnodes": 2, "node_rank": 2, "rdzv_endpoint": "h:1"}, "--node-rank 2"),
    ({"nnodes": 0}, "at least 1"),
    ({"nnodes": 2, "rdzv_endpoint": "no-port"}, "HOST:PORT"),
])
def test_bad_topology(kw, message) -> None:
    with pytest.raises(UserError, match=message):
        Topology(**kw)


def test_env_pins_gpus_in_pci_order_and_hides_them_from_cpu_runs() -> None:
    env = trainer_env({"PATH": "/bin"}, [GpuRef(1, "GPU-b"), GpuRef(3, None)], "r1", 2)
    assert env["CUDA_VISIBLE_DEVICES"] == "GPU-b,3"
    assert env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
    assert env["CLPBERT_RUN_ID"] == "r1" and env["CLPBERT_ATTEMPT"] == "2"
    assert trainer_env({}, [], "r", 1)["CUDA_VISIBLE_DEVICES"] == ""
    assert nproc_per_node([]) == 1 and nproc_per_node([GpuRef(0, None)] * 4) == 4


def _script(tmp_path: Path) -> Path:
    text = slurm_script("r42", "my run", tmp_path / "run", tmp_path / "run" / "config.yaml",
                        SlurmOptions(nnodes=2, gpus_per_node=8, partition="gpu", time_limit="4:00:00"))
    path = tmp_path / "job.sbatch"
    path.write_text(text)
    return path


def test_slurm_script_content(tmp_path: Path) -> None:
    text = _script(tmp_path).read_text()
    assert text.startswith("#!/bin/bash\n")
    for line in ("#SBATCH --nodes=2", "#SBATCH --ntasks-per-node=1", "#SBATCH --gpus-per-node=8",
                 "#SBATCH --partition=gpu", "#SBATCH --time=4:00:00", "export CUDA_DEVICE_ORDER=PCI_BUS_ID"):
        assert line in text.splitlines()
    assert "srun --kill-on-bad-exit=1" in text
    subprocess.run(["bash", "-n", str(tmp_path / "job.sbatch")], check=True)


def test_slurm_script_runs_the_same_torchrun_command_on_each_node(tmp_path: Path) -> None:
    """Run the script with stand-ins for srun/scontrol/python: each node's argv must be torchrun
    with that node's rank and node 0 as the rendezvous endpoint."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    out = tmp_path / "argv"

    def shim(name: str, body: str) -> None:
        p = bin_dir / name
        p.write_text("#!/bin/bash\n" + body)
        p.chmod(p.stat().st_mode | stat.S_IEXEC)

    shim("scontrol", 'printf "nodeA\\nnodeB\\n"\n')
    # srun: run the command once per node, as Slurm would, with that node's SLURM_NODEID.
    shim("srun", 'while [[ "$1" == --* ]]; do shift; done\n'
                 'for n in 0 1; do SLURM_NODEID=$n "$@"; done\n')
    shim("fakepython", f'printf "%s\\n" "$SLURM_NODEID" "$@" >> {shlex.quote(str(out))}; echo --- >> {out}\n')
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "SLURM_JOB_NODELIST": "nodeA,nodeB",
           "SLURM_NNODES": "2", "CLPBERT_PYTHON": str(bin_dir / "fakepython")}
    subprocess.run(["bash", str(_script(tmp_path))], env=env, check=True, timeout=30)
    runs = [chunk.strip().splitlines() for chunk in out.read_text().split("---") if chunk.strip()]
    assert len(runs) == 2
    for node, argv in enumerate(runs):
        assert argv[0] == str(node)
        args = argv[1:]
        assert args[:4] == ["-m", "torch.distributed.run", "--nproc-per-node", "8"]
        joined = " ".join(args)
        assert f"--nnodes 2 --node-rank {node} --rdzv-backend static --rdzv-endpoint nodeA:29500" in joined
        assert args[-3:] == ["clpbert.train", "--config", str(tmp_path / "run" / "config.yaml")]
    assert sys.executable in _script(tmp_path).read_text()
