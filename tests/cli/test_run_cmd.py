"""`clpbert run`, `clpbert gpus` and `clpbert runs stop|kill|resume|rm|logs|compare|export` as a user
types them (subprocesses, private CLPBERT_HOME, fake NVML where GPUs are needed)."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.tiny_configs import TINY_CLI_RUN

REPO = Path(__file__).resolve().parents[2]
TINY = TINY_CLI_RUN


def cli(home: Path, *args: str, fake_nvml: str | None = None, timeout: float = 120,
        stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CLPBERT_HOME": str(home)}
    env.pop("CLPBERT_DB_URL", None)
    env.pop("CLPBERT_FAKE_NVML", None)
    if fake_nvml:
        env["CLPBERT_FAKE_NVML"] = fake_nvml
    return subprocess.run([sys.executable, "-m", "cli.app", *args], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=timeout, input=stdin)


def one_line_error(res: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("clpbert: error: "), res.stderr
    for n in needles:
        assert n in lines[0]


# ------------------------------------------------------------------------------------ gpus


def test_gpus_json_without_a_driver_is_valid_json_and_exit_0(clpbert_home: Path, inproc) -> None:
    real = cli(clpbert_home, "gpus", "--json")  # a real process; this machine has no NVIDIA driver
    assert real.returncode == 0
    data = json.loads(real.stdout)
    if data["driver"] is None:
        assert data["gpus"] == [] and data["reason"]
    fake = inproc("gpus", "--json", fake_nvml="no-driver")
    assert fake.returncode == 0 and json.loads(fake.stdout)["driver"] is None
    human = inproc("gpus", fake_nvml="no-driver")
    assert human.returncode == 0 and "No GPU available" in human.stderr and human.stdout == ""


def test_gpus_lists_fake_gpus_with_na_fields(inproc) -> None:
    res = inproc("gpus", "--json", fake_nvml="unsupported-field")
    data = json.loads(res.stdout)
    assert [g["index"] for g in data["gpus"]] == [0, 1]
    assert data["gpus"][0]["power_w"] is None and data["gpus"][0]["na"]["power_w"]
    table = inproc("gpus", fake_nvml="8-gpus-busy")
    assert table.returncode == 0 and "H100" in table.stdout and "40007" in table.stdout


# ------------------------------------------------------------------------------------ run: errors


def test_user_mistakes_are_one_line_exit_2_and_create_nothing(inproc) -> None:
    one_line_error(inproc("run", "finetune", "--task", "demo", "--dataset", "nope"),
                   "unknown dataset 'nope'")
    one_line_error(inproc("run", "train", "--task", "demo"), "unknown run kind")
    one_line_error(inproc("run", "finetune", "--task", "msrvtt_qa"), "needs data")
    one_line_error(inproc("run", "finetune", "--task", "nope"), "unknown task")
    reg_ds = ["--task", "msrvtt_qa", "--set", "data.txt_db=/x"]
    one_line_error(inproc("run", "finetune", *reg_ds, "--gpus", "5", fake_nvml="2-gpus-idle"),
                   "there is no GPU 5")
    one_line_error(inproc("run", "finetune", *reg_ds, "--gpus", "1,1", fake_nvml="2-gpus-idle"),
                   "listed twice")
    one_line_error(inproc("run", "finetune", *reg_ds, "--gpus", "0", fake_nvml="no-driver"),
                   "leave out --gpus")
    one_line_error(inproc("run", "finetune", *reg_ds, "--nnodes", "2"), "--rdzv-endpoint")
    listed = inproc("runs", "list", "--json")
    assert json.loads(listed.stdout) == []


def test_slurm_writes_the_script_and_registers_the_run(inproc) -> None:
    res = inproc("run", "finetune", "--task", "msrvtt_qa", "--set", "data.txt_db=/x", "--init", "none",
                 "--slurm", "--nnodes", "4", "--gpus-per-node", "8", "--partition", "a100", "--json")
    assert res.returncode == 0, res.stderr
    run = json.loads(res.stdout)
    script = Path(run["run_dir"]) / "job.sbatch"
    text = script.read_text()
    assert "#SBATCH --nodes=4" in text and "#SBATCH --partition=a100" in text
    assert "--nproc-per-node 8" in text and str(Path(run["run_dir"]) / "config.yaml") in text
    assert run["state"] == "queued" and f"sbatch {script}" in run["reason"]
    # not supervised here: with no events yet it stays queued; stop points at Slurm
    assert json.loads(inproc("runs", "show", run["id"], "--json").stdout)["state"] == "queued"
    one_line_error(inproc("runs", "stop", run["id"]), "scancel")
    one_line_error(inproc("runs", "logs", run["id"], "--supervisor"), "leave out --supervisor")

    # the job ran on the cluster: its output file and the trainer's events are in the shared run dir
    from clpbert.train.events import EventWriter

    (Path(run["run_dir"]) / "logs" / "slurm-812.out").write_text("node0: step 1 loss 2.1\n")
    events = EventWriter(run["run_dir"])
    events.start(0, world_size=32, total_steps=1, task="msrvtt_qa", attempt=1)
    events.train(1, 0, {"loss": 2.1})
    events.eval(1, "val", {"acc": 0.25})
    events.finish(1, "finished")
    events.close()
    shown = json.loads(inproc("runs", "show", run["id"], "--json").stdout)
    assert shown["state"] == "finished" and shown["step"] == 1, shown
    logs = inproc("runs", "logs", run["id"])
    assert logs.returncode == 0 and logs.stdout == "node0: step 1 loss 2.1\n", logs.stderr


# ------------------------------------------------------------------------------------ run: real


@pytest.fixture(scope="module")
def tiny_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from clpbert.data.demo import generate_demo_dataset

    return generate_demo_dataset(tmp_path_factory.mktemp("demo") / "demo", n_train=24, n_val=8, workers=0)


def _kill_tree(run_id: str) -> None:
    """Teardown: nothing of the run may outlive a failing test."""
    from clpbert.registry import open_registry
    from clpbert.runs import procs

    with open_registry() as reg:
        run = reg.get_run(run_id) if reg.list_runs(text=run_id) else None
        active = ("queued", "starting", "running", "stopping")
        if run is not None and run.supervisor_pid and run.state in active:
            procs.kill_tree(run.supervisor_pid)


@pytest.mark.slow
def test_run_json_then_kill_logs_resume_refusal_and_rm(tiny_demo: Path, inproc, request) -> None:
    from clpbert.registry import open_registry
    from clpbert.runs.service import register_dataset_dir

    with open_registry() as reg:
        register_dataset_dir(reg, "tiny", tiny_demo)
    sets = [x for s in [*TINY, "optim.max_steps=500"] for x in ("--set", s)]
    res = inproc("run", "finetune", "--task", "demo", "--dataset", "tiny", *sets, "--name", "k1",
              "--tag", "t", "--json")
    assert res.returncode == 0, res.stderr
    run = json.loads(res.stdout)
    request.addfinalizer(lambda: _kill_tree(run["id"]))
    assert (run["name"], run["state"], run["tags"]) == ("k1", "queued", ["t"])
    config = (Path(run["run_dir"]) / "config.yaml").read_text()
    assert "dataset: tiny" in config and "device: cpu" in config
    deadline = time.monotonic() + 120
    while json.loads(inproc("runs", "show", "k1", "--json").stdout)["state"] == "queued":
        assert time.monotonic() < deadline
        time.sleep(0.5)
    one_line_error(inproc("runs", "rm", "k1", "--yes"), "stop it first or pass --force")
    killed = inproc("runs", "kill", "k1", "--json")
    assert killed.returncode == 0, killed.stderr
    assert json.loads(killed.stdout)["state"] == "killed"
    one_line_error(inproc("runs", "kill", "k1"), "already killed")
    logs = inproc("runs", "logs", run["id"], "--supervisor")
    assert "state starting" in logs.stdout and "state killed" in logs.stdout
    # killed before its first checkpoint: resume says why it cannot
    one_line_error(inproc("runs", "resume", "k1"), "no checkpoint")
    rm = inproc("runs", "rm", run["id"], "--yes")
    assert rm.returncode == 0, rm.stderr
    assert not Path(run["run_dir"]).exists()
    assert json.loads(inproc("runs", "list", "--json").stdout) == []


# ------------------------------------------------------------------------------------ compare/export


@pytest.fixture
def two_runs(clpbert_home: Path, tmp_path: Path):
    from clpbert.config import preset
    from clpbert.registry import open_registry
    from clpbert.runs.ingest import Ingestor

    ids = []
    with open_registry() as reg:
        for i, lr in enumerate((1e-3, 3e-4)):
            cfg = preset("demo")
            cfg.optim.lr = lr
            d = tmp_path / f"r{i}"
            d.mkdir()
            events = [{"event": "start", "step": 0, "total_steps": 20, "attempt": 1, "time": 1.0}]
            events += [{"event": "train", "step": s, "time": 1.0 + s, "metrics": {"loss": 2.0 / s + i}}
                       for s in (5, 10)]
            events += [{"event": "eval", "step": 10, "split": "val", "time": 12.0,
                        "metrics": {"acc": 0.5 + i / 10, "acc/color": 0.9}}]
            (d / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
            run = reg.create_run("finetune", "demo", name=f"r{i}", config=cfg.to_dict(), run_dir=d)
            Ingestor(reg, run.id, d, metric="acc").poll()
            reg.set_run_state(run.id, "finished")
            ids.append(run.id)
    return clpbert_home, ids


def test_compare_shows_config_differences_and_final_metrics(two_runs, inproc) -> None:
    _, ids = two_runs
    data = json.loads(inproc("runs", "compare", *ids, "--json").stdout)
    assert data["config"] == {"optim.lr": [1e-3, 3e-4]}
    assert data["metrics"]["val/acc"] == [0.5, 0.6]
    assert data["metrics"]["train/loss"] == [0.2, 1.2]
    table = inproc("runs", "compare", *ids)
    assert "optim.lr" in table.stdout and "val/acc" in table.stdout
    one_line_error(inproc("runs", "compare", ids[0]), "at least two")
    # a sweep by tag: both runs tagged, named once even when also listed by id
    for rid in ids:
        assert inproc("runs", "edit", rid, "--tag", "lr-sweep").returncode == 0
    by_tag = json.loads(inproc("runs", "compare", ids[1], "--tag", "lr-sweep", "--json").stdout)
    assert [r["id"] for r in by_tag["runs"]] == [ids[1], ids[0]]
    assert by_tag["config"] == {"optim.lr": [3e-4, 1e-3]}
    one_line_error(inproc("runs", "compare", "--tag", "nope"), "no run has the tag 'nope'")


def test_export_csv_and_json(two_runs, tmp_path: Path, inproc) -> None:
    _, ids = two_runs
    rows = list(csv.DictReader(io.StringIO(inproc("runs", "export", ids[0]).stdout)))
    assert [(r["kind"], r["name"], r["step"]) for r in rows] == [
        ("metric", "train/loss", "5"), ("metric", "train/loss", "10"), ("metric", "val/acc", "10"),
        ("metric", "val/acc/color", "10"), ("eval", "acc", "10"), ("eval", "acc/color", "10")]
    out = tmp_path / "x.json"
    res = inproc("runs", "export", *ids, "--format", "json", "--what", "evals", "-o", str(out))
    assert res.returncode == 0
    data = json.loads(out.read_text())
    assert [r["id"] for r in data["runs"]] == ids and "metrics" not in data["runs"][0]
    assert data["runs"][1]["evals"][0]["metrics"]["acc"] == 0.6
    inproc("runs", "edit", ids[1], "--tag", "best")
    tagged = json.loads(inproc("runs", "export", "--tag", "best", "--format", "json").stdout)
    assert [r["id"] for r in tagged["runs"]] == [ids[1]]
    one_line_error(inproc("runs", "export"), "name them, or give --tag")


def test_runs_import_registers_a_copied_run_dir(inproc, tmp_path: Path) -> None:
    from clpbert.config import preset, save_config
    from clpbert.train.events import EventWriter

    one_line_error(inproc("runs", "import", str(tmp_path / "nope")), "no such directory")
    d = tmp_path / "copied" / "ee55ff66"
    d.mkdir(parents=True)
    save_config(preset("demo"), d / "config.yaml")
    events = EventWriter(d)
    events.start(0, world_size=8, total_steps=2, task="demo", attempt=1)
    events.train(2, 0, {"loss": 0.5})
    events.eval(2, "val", {"acc": 0.75})
    events.finish(2, "finished")
    events.close()
    res = inproc("runs", "import", str(tmp_path / "copied"), "--json")
    assert res.returncode == 0, res.stderr
    (run,) = json.loads(res.stdout)
    assert (run["id"], run["state"], run["step"]) == ("ee55ff66", "finished", 2)
    assert run["already_registered"] is False
    shown = json.loads(inproc("runs", "show", "ee55ff66", "--json").stdout)
    assert shown["latest_eval"]["metrics"] == {"acc": 0.75}
    again = inproc("runs", "import", str(d))
    assert again.returncode == 0 and "already registered" in again.stdout + again.stderr


def test_runs_edit_renames_and_tags(inproc) -> None:
    from clpbert.registry import open_registry

    with open_registry() as reg:
        run = reg.create_run("finetune", "demo", name="old", tags=["x"])
    one_line_error(inproc("runs", "edit", run.id), "nothing to change")
    one_line_error(inproc("runs", "edit", run.id, "--untag", "nope"), "has no tag 'nope'")
    res = inproc("runs", "edit", "old", "--name", "new", "--tag", "y", "--untag", "x", "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert (out["id"], out["name"], out["tags"]) == (run.id, "new", ["y"])
    listed = json.loads(inproc("runs", "list", "--tag", "y", "--json").stdout)
    assert [r["id"] for r in listed] == [run.id]
    assert json.loads(inproc("runs", "list", "--tag", "x", "--json").stdout) == []


def test_run_sweep_json_and_its_mistakes(inproc) -> None:
    base = ["run", "finetune", "--task", "msrvtt_qa", "--set", "data.txt_db=/x", "--init", "none", "--slurm",
            "--gpus-per-node", "1"]
    res = inproc(*base, "--sweep", "optim.lr=1e-5,5e-5", "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert len(out["runs"]) == 2 and all(out["tag"] in r["tags"] for r in out["runs"])
    compared = json.loads(inproc("runs", "compare", "--tag", out["tag"], "--json").stdout)
    assert compared["config"]["optim.lr"] == [1e-5, 5e-5]
    one_line_error(inproc(*base, "--sweep", "optim.lr"), "KEY=V1,V2")
    one_line_error(inproc(*base, "--sweep", "optim.lr=1e-5", "--follow"), "--follow follows one run")
    assert len(json.loads(inproc("runs", "list", "--json").stdout)) == 2  # the mistakes created nothing
