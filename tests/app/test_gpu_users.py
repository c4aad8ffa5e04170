"""gpu_users: `clpbert gpus` and the TUI give one answer to "which run uses this GPU".

Three live runs on fake GPUs, each found by one rule only: A recorded GPU 0's UUID and its process
is listed there; B recorded GPU 1 by index, where NVML lists no process (a container); C recorded
no GPU but its process is listed on GPU 2. GPU 3 runs a foreign process. Before, the CLI (by pid)
missed B and the TUI (by recorded key) missed C.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from clpbert.gpu.fake import fake_uuid


@pytest.fixture
def sleepers():
    procs = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"]) for _ in range(2)]
    yield procs
    for p in procs:
        p.kill()
        p.wait()


def _gpu(i: int, processes):
    return {"name": "NVIDIA H100", "uuid": fake_uuid(i), "utilization_pct": 50, "memory_used_mib": 1000,
            "memory_total_mib": 81559, "power_w": 100, "temperature_c": 40, "sm_clock_mhz": 1980,
            "processes": [{"pid": p, "used_memory_mib": 500, "kind": "compute"} for p in processes]}


def _setup(tmp_path: Path, monkeypatch, a_pid: int, c_pid: int) -> None:
    from clpbert.registry import open_registry
    from clpbert.runs import procs
    from clpbert.runs.lifecycle import RunState

    spec = tmp_path / "gpus.json"
    spec.write_text(json.dumps({"driver": "550.54.15", "gpus": [
        _gpu(0, [a_pid]), _gpu(1, []), _gpu(2, [c_pid]), _gpu(3, [999_999])]}))
    monkeypatch.setenv("CLPBERT_FAKE_NVML", str(spec))
    with open_registry() as reg:
        for name, gpus, pid in (("A", [{"index": 0, "uuid": fake_uuid(0)}], a_pid),
                                ("B", [{"index": 1, "uuid": None}], None),
                                ("C", [], c_pid)):
            run = reg.create_run("finetune", "demo", name=name, gpus=gpus, state=RunState.RUNNING)
            if pid is not None:
                ident = procs.ProcessId.of(pid)
                reg.update_run(run.id, supervisor_pid=ident.pid, supervisor_create_time=ident.create_time)


def test_cli_and_tui_name_the_same_runs_for_every_gpu(clpbert_home, tmp_path, monkeypatch, capsys, sleepers):
    from cli.app import main
    from tui.data import TuiData, holders

    a, c = sleepers
    _setup(tmp_path, monkeypatch, a.pid, c.pid)
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        main(["gpus", "--json"])
    assert done.value.code in (0, None)
    cli = json.loads(capsys.readouterr().out)

    data = TuiData.open()
    try:
        snapshot = data.gpu_snapshot()
        users = data.gpu_users(snapshot)
        tui = {g.index: holders(users, g) for g in snapshot.gpus}
        dialog = {c.key: c.label for c in data.new_run_choices().gpus}
    finally:
        data.close()

    assert {g["index"]: g["runs"] for g in cli["gpus"]} == tui == {0: ["A"], 1: ["B"], 2: ["C"], 3: []}
    procs = {g["index"]: [p["run"] for p in g["processes"]] for g in cli["gpus"]}
    assert procs == {0: ["A"], 1: [], 2: ["C"], 3: [None]}
    assert dialog["1"].endswith("busy: B") and dialog["2"].endswith("busy: C")
