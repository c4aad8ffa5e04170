"""The generated job.sbatch, run for real: small sbatch/squeue/srun/scontrol/scancel stand-ins run the
script on this machine with the SLURM_* variables of a 2-node allocation (one torchrun per "node",
rendezvous on 127.0.0.1); the registry follows the job through the Slurm sync to `finished`, and
`scancel` ends another one `killed`."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]

SBATCH = r'''#!/bin/bash
# sbatch --parsable SCRIPT: run SCRIPT in the background as job N of a 2-node allocation
script="${@: -1}"
state="$SLURM_STANDIN_DIR"; mkdir -p "$state"
id=$(( $(cat "$state/last" 2>/dev/null || echo 100) + 1 )); echo "$id" > "$state/last"
out=$(sed -n 's/^#SBATCH --output=//p' "$script" | sed "s/%j/$id/")
mkdir -p "$(dirname "$out")"
SLURM_JOB_ID=$id SLURM_NNODES=2 SLURM_JOB_NODELIST="node[0-1]" setsid bash "$script" > "$out" 2>&1 &
echo $! > "$state/$id.pid"
echo "$id"
'''
SRUN = r'''#!/bin/bash
# srun [options] bash -c CMD: one task per "node", SLURM_NODEID 0 and 1; fails if either fails
while [[ "$1" == --* ]]; do shift; done
pids=()
for node in 0 1; do SLURM_NODEID=$node SLURM_PROCID=$node "$@" & pids+=($!); done
trap 'kill -TERM "${pids[@]}" 2>/dev/null; wait' TERM
rc=0; for p in "${pids[@]}"; do wait "$p" || rc=$?; done; exit $rc
'''
SCONTROL = r'''#!/bin/bash
# scontrol show hostnames LIST: both "nodes" are this machine
echo 127.0.0.1; echo 127.0.0.1
'''
SQUEUE = r'''#!/bin/bash
# squeue -h -j IDS -o "%i %T": the jobs whose script still runs
ids=""; while [ $# -gt 0 ]; do [ "$1" = -j ] && ids="$2"; shift; done
for id in ${ids//,/ }; do
  pid=$(cat "$SLURM_STANDIN_DIR/$id.pid" 2>/dev/null) && kill -0 "$pid" 2>/dev/null && echo "$id RUNNING"
done; exit 0
'''
SCANCEL = r'''#!/bin/bash
# scancel ID: SIGTERM to the job's process group (srun passes it to both nodes' torchrun)
pid=$(cat "$SLURM_STANDIN_DIR/$1.pid") && kill -TERM -- "-$pid"
'''


def _standins(tmp: Path) -> dict[str, str]:
    bindir = tmp / "slurm-bin"
    bindir.mkdir()
    for name, text in (("sbatch", SBATCH), ("srun", SRUN), ("scontrol", SCONTROL), ("squeue", SQUEUE),
                       ("scancel", SCANCEL)):
        path = bindir / name
        path.write_text(text)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return {"PATH": f"{bindir}:{os.environ['PATH']}", "SLURM_STANDIN_DIR": str(tmp / "slurm-state"),
            "RDZV_PORT": str(port), "OMP_NUM_THREADS": "1"}


def _cli(home: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **env, "CLPBERT_HOME": str(home)}
    full.pop("CLPBERT_DB_URL", None)
    return subprocess.run([sys.executable, "-m", "cli.app", *args], env=full, cwd=REPO, capture_output=True,
                          text=True, timeout=120)


def _submit(home: Path, env: dict[str, str], rt, steps: int) -> str:
    sets = [f"--set={s}" for s in [*rt.TINY, f"optim.max_steps={steps}", "eval.valid_steps=1000",
                                   "data.num_workers=0"]]
    proc = _cli(home, env, "run", "finetune", "--task", "demo", "--dataset", "demo", *sets, "--slurm",
                "--nnodes", "2", "--gpus-per-node", "0", "--submit", "--json")  # one CPU process per node
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["id"]


def _state(home: Path, env: dict[str, str], run_id: str) -> dict:
    proc = _cli(home, env, "runs", "show", run_id, "--json")  # each call reconciles: the Slurm sync
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_generated_script_runs_two_nodes_to_finished_and_scancel_kills(runs_home: Path, tmp_path: Path, rt):
    env = _standins(tmp_path)
    run_id = _submit(runs_home, env, rt, steps=3)
    final = rt.wait_until(lambda: (d := _state(runs_home, env, run_id))["state"] in
                          ("finished", "failed", "killed", "lost") and d, 600, "the Slurm run to end")
    log = next((Path(final["run_dir"]) / "logs").glob("slurm-*.out")).read_text()
    assert final["state"] == "finished", (final["reason"], log[-2000:])
    assert final["step"] == 3 and "train/loss" in final["latest_metrics"]

    run_id = _submit(runs_home, env, rt, steps=100_000)
    rt.wait_until(lambda: _state(runs_home, env, run_id)["step"] >= 1, 600, "the second job to train")
    job = _state(runs_home, env, run_id)["host"].split(":", 1)[1]
    subprocess.run(["scancel", job], env={**os.environ, **env}, check=True, timeout=30)
    final = rt.wait_until(lambda: (d := _state(runs_home, env, run_id))["state"] in
                          ("finished", "failed", "killed", "lost") and d, 300, "scancel to end the run")
    assert final["state"] == "killed", final["reason"]
