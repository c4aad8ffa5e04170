"""A registry filled the way real runs fill it, with fixed times, for Pilot and snapshot tests.

Runs are created through the registry API, their progress is written as events.jsonl lines (the
trainer's format) and ingested by the run manager's `Ingestor`, GPU samples go through
`add_gpu_samples`: no hand-written SQL. Times are fixed (NOW below, and the app's clock) and NVML
is the fake backend reading a JSON file, so snapshots do not change between runs.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

NOW = 1_750_000_000.0
RUNNING = "a1b2c3d4"
FINISHED = "b2c3d4e5"
FAILED = "c3d4e5f6"
QUEUED = "d4e5f6a7"


def fake_gpus() -> dict:
    from clpbert.gpu.fake import fake_uuid

    def gpu(i: int, util: float, mem: float, power: float | None, temp: float, procs: list) -> dict:
        return {"name": "NVIDIA H100 80GB HBM3", "uuid": fake_uuid(i), "pci_bus_id": f"0000:{24 + i}:00.0",
                "utilization_pct": util, "memory_used_mib": mem, "memory_total_mib": 81559.0,
                "power_w": power, "temperature_c": temp, "sm_clock_mhz": 1980.0, "processes": procs,
                "unsupported": [] if power is not None else ["power_w"]}

    return {"driver": "550.54.15", "reason": None, "gpus": [
        gpu(0, 97.0, 61440.0, 612.0, 66.0, [{"pid": 4242, "used_memory_mib": 61430.0, "kind": "compute"}]),
        gpu(1, 95.0, 60000.0, 598.0, 64.0, [{"pid": 4243, "used_memory_mib": 59990.0, "kind": "compute"}]),
        gpu(2, 0.0, 0.0, 71.0, 31.0, []),
        gpu(3, 0.0, 0.0, None, 30.0, []),
    ]}


def _events(run_dir: Path, events: list[dict]) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    with (run_dir / "events.jsonl").open("a") as f:
        for ev in events:
            f.write(json.dumps(ev) + "\n")


def _train_events(t0: float, steps: range, total: int, parts: bool = False,
                  data_frac: float | None = None) -> list[dict]:
    out: list[dict] = [{"event": "start", "time": t0, "step": 0, "world_size": 2, "total_steps": total,
                        "task": "demo", "attempt": 1}]
    for s in steps:
        loss = 3.0 / (1 + s / 40) + 0.05 * ((s * 7) % 5) / 5
        lr = 5e-5 * min(1.0, s / 40) * (1 - s / total)
        metrics = {"loss": loss, "lr": lr, "grad_norm": 1.0 + (s % 3) / 10}
        if parts:
            metrics |= {"loss/mlm": loss * 0.7, "loss/itm": loss * 0.3}
        if data_frac is not None:  # the trainer's step time split (clpbert.train.step_timing)
            frac = data_frac + 0.02 * ((s // 10) % 5)
            metrics |= {"time/step_s": 1.2, "time/data_s": 1.2 * frac, "time/fwd_bwd_s": 1.2 * (0.9 - frac),
                        "time/optimizer_s": 0.12, "time/comm_s": 0.05, "time/data_frac": frac}
        out.append({"event": "train", "time": t0 + s, "step": s, "epoch": s // 50, "metrics": metrics})
    return out


def fill_registry(home: Path, demo_dir: Path) -> None:
    """Four runs (running, finished, failed, queued), a dataset, checkpoints, GPU samples.

    The clock stands still at NOW - 600 while filling, so rows the registry stamps itself
    (dataset and checkpoint `created`) are the same in every test run.
    """
    from unittest import mock

    with mock.patch("time.time", return_value=NOW - 600):
        _fill(home, demo_dir)


def _fill(home: Path, demo_dir: Path) -> None:
    from clpbert import paths
    from clpbert.gpu.fake import fake_uuid
    from clpbert.registry import open_registry, process_samples
    from clpbert.registry.checksum import sha256_file
    from clpbert.registry.process_samples import ProcessSample
    from clpbert.runs.ingest import Ingestor
    from clpbert.runs.service import register_dataset_dir

    with open_registry() as reg:
        ds_dir = paths.dataset_dir("demo")
        shutil.copytree(demo_dir, ds_dir)
        register_dataset_dir(reg, "demo", ds_dir)
        init = home / "pretrained" / "clipbert_init.pt"
        init.parent.mkdir(parents=True)
        init.write_bytes(b"\0" * 4096)
        digest, _ = sha256_file(init)
        reg.add_checkpoint(init, name="clipbert-init", kind="pretrained", source="fixture", sha256=digest)

        def run(run_id: str, name: str, task: str, gpus: list, created: float) -> Path:
            reg.create_run("finetune", task, dataset="demo", name=name, run_id=run_id, gpus=gpus,
                           config={"task": {"name": task}, "optim": {"lr": 5e-5, "max_steps": 200}},
                           total_steps=200)
            reg.update_run(run_id, created=created)
            (paths.run_dir(run_id) / "logs").mkdir(parents=True)  # as launch_run leaves it
            return paths.run_dir(run_id)

        # 1. running on GPUs 0 and 1: loss parts, lr, QA evals, a checkpoint, a log, GPU samples
        d = run(RUNNING, "demo-qa-live", "demo", [(0, fake_uuid(0)), (1, fake_uuid(1))], NOW - 3600)
        (d / "checkpoints").mkdir(parents=True)
        (d / "checkpoints" / "step_000100.pt").write_bytes(b"\1" * 2048)
        qa = [{"event": "eval", "time": NOW - 3000 + s, "step": s, "split": "val",
               "metrics": {"acc": 0.3 + s / 400, "acc/what": 0.35 + s / 500, "acc/who": 0.2 + s / 300}}
              for s in (50, 100)]
        ck = {"event": "checkpoint", "time": NOW - 2899, "step": 100, "path": "checkpoints/step_000100.pt",
              "best": True, "metric": {"name": "acc", "value": 0.55}}
        train = _train_events(NOW - 3000, range(10, 130, 10), 200, parts=True, data_frac=0.03)
        _events(d, train + qa + [ck])
        reg.set_run_state(RUNNING, "running")
        Ingestor(reg, RUNNING, d, metric="acc").poll()
        reg.update_run(RUNNING, started=NOW - 3000)
        (d / "logs" / "train.log").write_text("".join(f"step {s} loss {3.0 / (1 + s / 40):.4f}\n"
                                                      for s in range(10, 130, 10)))
        process_samples.add(reg, [ProcessSample(RUNNING, "gpu-node-1", NOW - 1, 7, 412.0, 9830.4, 180.0)])
        reg.add_gpu_samples([{"gpu_uuid": fake_uuid(i), "gpu_index": i, "run_id": RUNNING,
                              "time": NOW - 60 + t, "util": 90.0 + (t % 7), "mem_used": 60000.0,
                              "mem_total": 81559.0, "power": 600.0, "temperature": 60.0 + (t % 9)}
                             for i in (0, 1) for t in range(60)])

        # 2. finished retrieval run: both directions' recalls and ranks
        d = run(FINISHED, "msrvtt-ret-base", "msrvtt_ret", [], NOW - 86400 * 2)
        ret = [{"event": "eval", "time": NOW - 86000 + s, "step": s, "split": "val", "metrics": {
            "t2v/r1": 0.1 + s / 2000, "t2v/r5": 0.3 + s / 1000, "t2v/r10": 0.4 + s / 1000,
            "t2v/medr": 20 - s / 20, "t2v/meanr": 80 - s / 5, "v2t/r1": 0.12 + s / 2000,
            "v2t/r5": 0.31 + s / 1000, "v2t/r10": 0.42 + s / 1000, "v2t/medr": 18 - s / 20,
            "v2t/meanr": 75 - s / 5}} for s in (100, 200)]
        fin = {"event": "finish", "time": NOW - 85000, "step": 200, "status": "finished", "reason": None}
        _events(d, _train_events(NOW - 86300, range(20, 220, 20), 200, data_frac=0.4) + ret + [fin])
        reg.set_run_state(FINISHED, "running")
        Ingestor(reg, FINISHED, d, metric="t2v/r1").poll()
        process_samples.add(reg, [ProcessSample(FINISHED, "cpu-box", NOW - 85001, 3, 198.0, 2150.0, 0.0)])
        reg.set_run_state(FINISHED, "finished", exit_code=0)
        reg.update_run(FINISHED, started=NOW - 86300, ended=NOW - 85000)

        # 3. failed, with its reason; 4. queued
        d = run(FAILED, "tgif-frameqa-oom", "tgif_qa_frameqa", [(2, fake_uuid(2))], NOW - 7200)
        _events(d, _train_events(NOW - 7000, range(10, 40, 10), 500))
        reg.set_run_state(FAILED, "running")
        Ingestor(reg, FAILED, d).poll()
        reg.set_run_state(FAILED, "failed", exit_code=1, reason="CUDA out of memory (rank 0)")
        reg.update_run(FAILED, started=NOW - 7000, ended=NOW - 6900)
        run(QUEUED, "pretrain-queued", "pretrain", [], NOW - 120)


@pytest.fixture
def two_node_job(tui_home: Path) -> list[str]:
    """A 2-node job in the fixture registry (one shared registry): node runs launched as
    `--nnodes 2 --node-rank R` create them, linked by the `job` event their trainers write at the
    rendezvous. Node 1 was created after node 0, so newest-first would list it first. Its run ids."""
    from clpbert.registry import open_registry
    from clpbert.runs.ingest import Ingestor
    from clpbert.runs.job_link import job_fields, node_of_job
    from clpbert.runs.launch import Topology

    ids, hosts = ["e5f6a7b8", "f6a7b8c9"], ["gpu-node-17", "gpu-node-18"]
    entries = [{"node_rank": r, "run_id": ids[r], "host": hosts[r]} for r in (0, 1)]
    with open_registry() as reg:
        for rank, run_id in enumerate(ids):
            topology = Topology(nnodes=2, node_rank=rank, rdzv_endpoint="gpu-node-17:29500")
            reg.create_run("finetune", "msrvtt_qa", dataset="demo", name=f"msrvtt-2node-n{rank}",
                           run_id=run_id, nnodes=2, host=hosts[rank], total_steps=200,
                           **node_of_job(run_id, topology))
            reg.update_run(run_id, created=NOW - 900 + rank)
            d = tui_home / "runs" / run_id
            _events(d, [{"event": "job", "time": NOW - 890, **job_fields(entries, rank)},
                        *_train_events(NOW - 880, range(10, 50, 10), 200)])
            reg.set_run_state(run_id, "running")
            Ingestor(reg, run_id, d).poll()
            reg.update_run(run_id, started=NOW - 880)
    return ids


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny synthetic demo dataset (4 + 2 videos), generated once per session by the engine."""
    from clpbert.data.demo import generate_demo_dataset

    return generate_demo_dataset(tmp_path_factory.mktemp("demo") / "demo", n_train=4, n_val=2, workers=1)


@pytest.fixture
def tui_home(clpbert_home: Path, tmp_path: Path, demo_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """CLPBERT_HOME with the four runs above, and fake NVML reading fixed GPUs from a JSON file."""
    nvml = tmp_path / "nvml.json"
    nvml.write_text(json.dumps(fake_gpus()))
    monkeypatch.setenv("CLPBERT_FAKE_NVML", str(nvml))
    fill_registry(clpbert_home, demo_dir)
    return clpbert_home


@pytest.fixture
def make_app(tui_home: Path) -> Callable:
    """A ClpbertApp on the fixture registry with a fixed clock and no periodic refresh."""
    from tui.app import ClpbertApp
    from tui.data import TuiData

    apps = []

    def make(**kw):
        kw.setdefault("clock", lambda: NOW)
        kw.setdefault("refresh_s", 3600.0)
        kw.setdefault("reconcile_s", 0.0)  # the fixture's runs have no supervisor: reconcile marks them lost
        app = ClpbertApp(TuiData.open(), **kw)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.data.close()


async def _settle(pilot) -> None:
    from textual.worker import WorkerCancelled

    for _ in range(2):  # a worker's result can start another worker (e.g. mount, then read)
        for _attempt in range(50):
            try:
                await pilot.app.workers.wait_for_complete()
                break
            except WorkerCancelled:
                # A newer exclusive worker (a periodic refresh) superseded the one we waited on;
                # that is the app working as meant, so wait for the current set instead.
                await pilot.pause()
        await pilot.pause()


@pytest.fixture
def settle() -> Callable:
    """`await settle(pilot)`: let workers finish and their results paint (thread workers post back)."""
    return _settle


@pytest.fixture
def anyio_backend() -> str:
    """Async tests here are `@pytest.mark.anyio` (anyio's plugin) on asyncio, as Textual needs."""
    return "asyncio"


def notes(app) -> list[str]:
    """Messages of the notifications the app has shown (toasts)."""
    return [n.message for n in app._notifications]


@pytest.fixture
def notifications() -> Callable:
    return notes


@pytest.fixture
def ids() -> dict[str, str]:
    """The fixture runs by role (test modules cannot import conftest under importlib mode)."""
    return {"running": RUNNING, "finished": FINISHED, "failed": FAILED, "queued": QUEUED}
