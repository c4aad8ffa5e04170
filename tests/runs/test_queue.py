"""Two runs asking for the same (fake) GPU wait in order; CPU trainers reserve the fake GPU ids."""

from __future__ import annotations

from pathlib import Path

import pytest

from clpbert.gpu.fake import fake_uuid
from clpbert.registry import open_registry
from clpbert.runs.service import LaunchRequest, kill_run, launch_run, stop_run

pytestmark = pytest.mark.slow


def test_runs_on_the_same_gpu_queue_in_creation_order(runs_home: Path, rt, monkeypatch) -> None:
    monkeypatch.setenv("CLPBERT_FAKE_NVML", "2-gpus-idle")  # inherited by every supervisor
    with open_registry() as reg:
        def launch(name: str):
            sets = [*rt.TINY, "optim.max_steps=1000", "runtime.device=cpu"]
            return launch_run(reg, LaunchRequest(kind="finetune", task="demo", dataset="demo", gpus="0",
                                                 name=name, sets=sets))

        a = launch("a")
        assert a.gpus == [{"index": 0, "uuid": fake_uuid(0)}]
        rt.wait_until(lambda: reg.get_run(a.id).state == "running", 240, "run a to start")
        b, c = launch("b"), launch("c")
        rt.wait_until(lambda: "reserved by run" in (reg.get_run(b.id).reason or ""), 60, "b to wait")
        assert reg.get_run(b.id).reason == f"waiting for GPU 0 (reserved by run {a.id})"
        rt.wait_until(lambda: "queued earlier" in (reg.get_run(c.id).reason or ""), 60, "c to wait behind b")
        assert [r.gpu_key for r in reg.reserved_gpus()] == [fake_uuid(0)]
        # the supervisor samples the (fake) GPU of its run at 1 Hz
        rt.wait_until(lambda: reg.gpu_series(fake_uuid(0), run_id=a.id), 30, "GPU samples of run a")

        assert kill_run(reg, a.id).state == "killed"
        rt.wait_until(lambda: reg.get_run(b.id).state in ("starting", "running"), 60, "b to take GPU 0")
        assert reg.get_run(c.id).state == "queued"
        rt.wait_until(lambda: reg.get_run(c.id).reason == f"waiting for GPU 0 (reserved by run {b.id})", 30,
                      "c to wait for b")
        assert [r.run_id for r in reg.reserved_gpus()] == [b.id]

        queued_stop = stop_run(reg, c.id, grace_s=10)
        assert (queued_stop.state, queued_stop.reason) == ("killed", "stopped by user while queued")
        assert reg.list_attempts(c.id) == []
        assert kill_run(reg, b.id).state == "killed"
        assert reg.reserved_gpus() == []
