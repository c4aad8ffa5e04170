"""The trainer's command line and environment: torchrun argv, per-run env, and Slurm scripts.

One place builds the torchrun command, so a local run, a multi-node run (`--nnodes --node-rank
--rdzv-endpoint`, torchrun's static rendezvous) and a Slurm job (`srun` on each node) run exactly
the same trainer:

    python -m torch.distributed.run --nproc-per-node K [topology] -m clpbert.train --config CFG [--resume]

A single-node run uses `--standalone` (a private rendezvous on a free port), so several runs can
share a machine without fighting over port 29500.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clpbert.errors import UserError
from clpbert.runs.gpu_spec import GpuRef
from clpbert.runs.run_dir import RunDir

DEFAULT_RDZV_PORT = 29500
TRAINER_MODULE_ENV = "CLPBERT_TRAINER_MODULE"
"""Development hook: run another module than clpbert.train under torchrun (same argv)."""
_ENDPOINT = re.compile(r"^\[?[A-Za-z0-9_.:-]+\]?:\d{1,5}$")
_SLURM_NAME = re.compile(r"^[A-Za-z0-9_.,-]+$")
"""Partition and account names (a partition may be a comma-separated list)."""
_SAFE_JOB_NAME = re.compile(r"[^A-Za-z0-9_.-]")
"""sbatch reads `#SBATCH` lines itself: a space in the job name would start another option."""
_SLURM_TIME = re.compile(r"^(\d+(-\d{1,2})?(:\d{1,2}){0,2}|unlimited|infinite)$", re.IGNORECASE)
"""sbatch --time: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S, or UNLIMITED."""


@dataclass(frozen=True)
class Topology:
    """How many nodes take part and how they meet (torchrun's rendezvous)."""

    nnodes: int = 1
    node_rank: int = 0
    rdzv_endpoint: str | None = None
    """HOST:PORT of node 0's rendezvous store; needed when nnodes > 1."""

    def __post_init__(self) -> None:
        if self.nnodes < 1:
            raise UserError(f"--nnodes {self.nnodes}: must be at least 1")
        if not 0 <= self.node_rank < self.nnodes:
            raise UserError(f"--node-rank {self.node_rank}: must be in 0..{self.nnodes - 1} for --nnodes "
                            f"{self.nnodes}")
        if self.nnodes > 1 and not self.rdzv_endpoint:
            raise UserError(f"--nnodes {self.nnodes} needs --rdzv-endpoint HOST:PORT (node 0's address, "
                            f"e.g. node0:{DEFAULT_RDZV_PORT})")
        if self.rdzv_endpoint and not _ENDPOINT.match(self.rdzv_endpoint):
            raise UserError(f"--rdzv-endpoint {self.rdzv_endpoint!r}: expected HOST:PORT, e.g. "
                            f"node0:{DEFAULT_RDZV_PORT}")

    @property
    def multi_node(self) -> bool:
        return self.nnodes > 1 or self.rdzv_endpoint is not None

    def to_dict(self) -> dict[str, object]:
        return {"nnodes": self.nnodes, "node_rank": self.node_rank, "rdzv_endpoint": self.rdzv_endpoint}


def nproc_per_node(gpus: Sequence[GpuRef]) -> int:
    """One process per GPU; one process for a CPU run."""
    return max(1, len(gpus))


def trainer_command(config_path: str | os.PathLike[str], nproc: int, topology: Topology = Topology(),
                    resume: bool = False, python: str | None = None) -> list[str]:
    """The torchrun argv that starts the trainer on this node."""
    argv = [python or sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc)]
    if topology.multi_node:
        argv += ["--nnodes", str(topology.nnodes), "--node-rank", str(topology.node_rank),
                 "--rdzv-backend", "static", "--rdzv-endpoint", str(topology.rdzv_endpoint)]
    else:
        argv += ["--standalone", "--nnodes", "1"]
    argv += ["-m", os.environ.get(TRAINER_MODULE_ENV) or "clpbert.train", "--config", str(config_path)]
    if resume:
        argv.append("--resume")
    return argv


def trainer_env(base: Mapping[str, str], gpus: Sequence[GpuRef], run_id: str, attempt: int) -> dict[str, str]:
    """The trainer's environment: only the run's GPUs are visible, in PCI bus order.

    A CPU run gets CUDA_VISIBLE_DEVICES="" so it can never touch a GPU by accident.
    """
    env = dict(base)
    env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
    env["CUDA_VISIBLE_DEVICES"] = ",".join(g.uuid or str(g.index) for g in gpus)
    env["PYTHONUNBUFFERED"] = "1"
    env["CLPBERT_RUN_ID"] = run_id
    env["CLPBERT_ATTEMPT"] = str(attempt)
    env.pop("TORCHELASTIC_RUN_ID", None)  # a run started from inside another torchrun is still its own
    return env


def supervisor_command(run_id: str, python: str | None = None) -> list[str]:
    return [python or sys.executable, "-m", "clpbert.runs.supervisor", run_id]


# ------------------------------------------------------------------------------------------
# Slurm
# ------------------------------------------------------------------------------------------


def is_slurm_run(run: Any) -> bool:
    """Runs written by `--slurm` have host `slurm` (script only) or `slurm:<job id>` (submitted)."""
    host = run.host or ""
    return host == "slurm" or host.startswith("slurm:")


def slurm_job_id(run: Any) -> str | None:
    host = run.host or ""
    return host.split(":", 1)[1] or None if host.startswith("slurm:") else None


@dataclass(frozen=True)
class SlurmOptions:
    nnodes: int = 1
    gpus_per_node: int = 0
    partition: str | None = None
    time_limit: str | None = None
    """sbatch --time, e.g. 24:00:00."""
    account: str | None = None
    cpus_per_node: int | None = None
    port: int = DEFAULT_RDZV_PORT

    def __post_init__(self) -> None:
        """Every value that reaches job.sbatch is checked here, before anything is written."""
        for flag, value in (("--partition", self.partition), ("--account", self.account)):
            if value is not None and not _SLURM_NAME.match(value):
                raise UserError(f"{flag} {value!r}: Slurm names use letters, digits and _ . - , only")
        if self.time_limit is not None and not _SLURM_TIME.match(self.time_limit):
            raise UserError(f"--time {self.time_limit!r}: expected a Slurm time such as 90, 4:00:00 or "
                            "2-00:00:00")
        for flag, number, low in (("--nnodes", self.nnodes, 1), ("--gpus-per-node", self.gpus_per_node, 0),
                                  ("--cpus-per-node", self.cpus_per_node, 1), ("port", self.port, 1)):
            if number is not None and (not isinstance(number, int) or number < low):
                raise UserError(f"{flag} {number!r}: must be a whole number >= {low}")


def slurm_script(run_id: str, run_name: str, run_dir: Path, config_path: Path, opts: SlurmOptions,
                 resume: bool = False, python: str | None = None) -> str:
    """An sbatch script running the same torchrun command on every node (one srun task per node).

    Node 0's hostname is the rendezvous endpoint; each node's rank is its $SLURM_NODEID, read
    on that node (the command is single-quoted for `bash -c`). `CLPBERT_PYTHON` overrides the
    interpreter (e.g. a different venv path on the compute nodes).
    """
    if opts.nnodes < 1:
        raise UserError(f"--nnodes {opts.nnodes}: must be at least 1")
    log_dir = RunDir(run_dir).logs
    if any(c.isspace() or not c.isprintable() for c in str(log_dir)):
        raise UserError(f"run directory {str(run_dir)!r} holds whitespace or control characters, which an "
                        "#SBATCH line cannot carry; point CLPBERT_HOME at a plain path for Slurm runs")
    job_name = _SAFE_JOB_NAME.sub("_", f"clpbert-{run_name or run_id}")
    nproc = max(1, opts.gpus_per_node)
    py = python or sys.executable
    train = trainer_command(config_path, nproc, resume=resume, python="PYTHON")
    tail = train[train.index("-m", 2):]  # "-m clpbert.train --config ... [--resume]"
    inner = " ".join([
        '"$CLPBERT_PYTHON"', "-m", "torch.distributed.run", "--nproc-per-node", str(nproc),
        "--nnodes", '"$SLURM_NNODES"', "--node-rank", '"$SLURM_NODEID"',
        "--rdzv-backend", "static", "--rdzv-endpoint", '"$RDZV_HOST:$RDZV_PORT"',
        *(shlex.quote(a) for a in tail)])
    lines = ["#!/bin/bash",
             f"#SBATCH --job-name={job_name}",
             f"#SBATCH --nodes={opts.nnodes}",
             "#SBATCH --ntasks-per-node=1"]
    if opts.gpus_per_node:
        lines.append(f"#SBATCH --gpus-per-node={opts.gpus_per_node}")
    if opts.cpus_per_node:
        lines.append(f"#SBATCH --cpus-per-task={opts.cpus_per_node}")
    if opts.partition:
        lines.append(f"#SBATCH --partition={opts.partition}")
    if opts.account:
        lines.append(f"#SBATCH --account={opts.account}")
    if opts.time_limit:
        lines.append(f"#SBATCH --time={opts.time_limit}")
    lines += [f"#SBATCH --output={RunDir(run_dir).slurm_log()}",
              "",
              f"# clpbert run {run_id}: the same trainer command on each node, rendezvous on node 0.",
              "set -euo pipefail",
              f'if [ -z "${{CLPBERT_PYTHON:-}}" ]; then CLPBERT_PYTHON={shlex.quote(py)}; fi',
              "export CLPBERT_PYTHON",
              "export CUDA_DEVICE_ORDER=PCI_BUS_ID",
              "export PYTHONUNBUFFERED=1",
              f"export CLPBERT_RUN_ID={shlex.quote(run_id)}",
              'export RDZV_HOST="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)"',
              f'export RDZV_PORT="${{RDZV_PORT:-{opts.port}}}"',
              f"mkdir -p {shlex.quote(str(RunDir(run_dir).logs))}",
              f"srun --kill-on-bad-exit=1 --ntasks-per-node=1 bash -c {shlex.quote('exec ' + inner)}",
              ""]
    return "\n".join(lines)
