"""datasets / ckpts / runs / config / doctor commands against a real registry in a private home."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run_cli(home: Path, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    import os

    env = {**os.environ, "CLPBERT_HOME": str(home)}
    env.pop("CLPBERT_DB_URL", None)
    return subprocess.run([sys.executable, "-m", "cli.app", *args], capture_output=True, text=True,
                          env=env, cwd=REPO, input=input, timeout=120)


@pytest.fixture
def filled(clpbert_home: Path):
    """A registry with one dataset and two runs (one with metrics and evals)."""
    from clpbert.registry import open_registry

    with open_registry() as reg:
        reg.add_dataset("msrvtt", task="msrvtt_qa", format="msrvtt_qa", splits={"train": 5, "val": 2})
        a = reg.create_run("finetune", "msrvtt_qa", dataset="msrvtt", name="alpha", total_steps=100)
        reg.set_run_state(a.id, "running")
        reg.add_metrics(a.id, [(s, "loss", 1.0 / (s + 1), 0.0) for s in range(20)])
        reg.add_eval(a.id, 10, "val", {"acc": 0.25})
        reg.add_eval(a.id, 20, "val", {"acc": 0.5})
        b = reg.create_run("eval", "msrvtt_ret", name="beta")
    return clpbert_home, a, b


def test_runs_list_json_and_filters(filled):
    home, a, b = filled
    rows = json.loads(run_cli(home, "runs", "list", "--json").stdout)
    assert [r["id"] for r in rows] == [b.id, a.id]
    assert "config" not in rows[0]
    running = json.loads(run_cli(home, "runs", "list", "--state", "running", "--json").stdout)
    assert [r["id"] for r in running] == [a.id]
    assert [r["id"] for r in json.loads(run_cli(home, "runs", "list", "--task", "msrvtt_ret",
                                                "--json").stdout)] == [b.id]
    limited = run_cli(home, "runs", "list", "--limit", "1")
    assert b.id in limited.stdout and a.id not in limited.stdout
    assert "showing 1 of 2" in limited.stderr


def test_runs_show_json_has_state_and_latest_eval(filled):
    home, a, _ = filled
    proc = run_cli(home, "runs", "show", a.id[:5], "--json")
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    assert d["id"] == a.id and d["state"] == "running" and d["step"] == 19
    assert d["latest_eval"]["metrics"] == {"acc": 0.5} and len(d["evals"]) == 2
    assert d["latest_metrics"]["loss"]["count"] == 20
    text = run_cli(home, "runs", "show", "alpha").stdout
    assert "eval val @ step 20" in text and "running" in text


def test_datasets_show_and_rm_needs_yes(filled):
    home, _, _ = filled
    assert json.loads(run_cli(home, "datasets", "show", "msrvtt", "--json").stdout)["splits"] == {
        "train": 5, "val": 2}
    refused = run_cli(home, "datasets", "rm", "msrvtt", input="")
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert run_cli(home, "datasets", "rm", "msrvtt", "--yes").returncode == 0
    assert json.loads(run_cli(home, "datasets", "list", "--json").stdout) == []
    gone = run_cli(home, "datasets", "show", "msrvtt")
    assert gone.returncode == 2 and "clpbert datasets list" in gone.stderr


def test_ckpts_add_computes_digest_then_show_and_rm(clpbert_home: Path, tmp_path: Path):
    import torch

    f = tmp_path / "weights.pt"
    torch.save({"cnn.w": torch.arange(2500, dtype=torch.float32)}, f)  # `ckpts add` loads the file first
    proc = run_cli(clpbert_home, "ckpts", "add", str(f), "--kind", "pretrained", "--source", "test", "--json")
    assert proc.returncode == 0, proc.stderr
    c = json.loads(proc.stdout)
    assert c["sha256"] == hashlib.sha256(f.read_bytes()).hexdigest() and c["size"] == f.stat().st_size
    assert json.loads(run_cli(clpbert_home, "ckpts", "show", "weights", "--json").stdout)["id"] == c["id"]
    dup = run_cli(clpbert_home, "ckpts", "add", str(f))
    assert dup.returncode == 2 and "already registered" in dup.stderr
    bad = run_cli(clpbert_home, "ckpts", "add", str(tmp_path / "missing.pt"))
    assert bad.returncode == 2 and "no such file" in bad.stderr
    assert run_cli(clpbert_home, "ckpts", "rm", str(c["id"]), "--yes").returncode == 0
    assert json.loads(run_cli(clpbert_home, "ckpts", "list", "--json").stdout) == []


def test_config_show_applies_sets_and_rejects_unknown_keys(clpbert_home: Path):
    proc = run_cli(clpbert_home, "config", "show", "--task", "demo", "--set", "optim.lr=0.5", "--json")
    assert proc.returncode == 0, proc.stderr
    cfg = json.loads(proc.stdout)
    assert cfg["optim"]["lr"] == 0.5 and cfg["task"]["name"] == "demo"
    bad = run_cli(clpbert_home, "config", "show", "--task", "demo", "--set", "optim.lrr=1")
    assert bad.returncode == 2 and "unknown config key" in bad.stderr and "Traceback" not in bad.stderr
    keys = run_cli(clpbert_home, "config", "keys").stdout.split()
    assert "optim.lr" in keys and "data.num_frm" in keys


@pytest.mark.slow
def test_doctor_json_reports_without_gpu(clpbert_home: Path):
    proc = run_cli(clpbert_home, "doctor", "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["registry"]["reachable"] is True and info["home"] == str(clpbert_home)
    assert isinstance(info["torch"]["cuda_available"], bool)
    assert "available" in info["nvml"]
    assert set(info["slurm"]) == {"sbatch", "squeue"}  # paths, or null where Slurm is not installed


def test_runs_export_json_is_strict_even_with_infinite_values(clpbert_home: Path):
    """The export's own cleaner turned NaN into null but let infinity through as `Infinity`."""
    from clpbert.registry import open_registry

    with open_registry() as reg:
        run = reg.create_run("finetune", "msrvtt_qa", name="diverged")
        reg.add_metrics(run.id, [(1, "loss", float("inf"), 1.0), (2, "loss", float("nan"), 2.0)])
        reg.add_eval(run.id, 2, "val", {"acc": float("-inf")})
    res = run_cli(clpbert_home, "runs", "export", run.id, "--format", "json")
    assert res.returncode == 0, res.stderr

    def refuse(name: str):
        raise AssertionError(f"not strict JSON: {name} in {res.stdout}")

    data = json.loads(res.stdout, parse_constant=refuse)
    assert [m["value"] for m in data["runs"][0]["metrics"]] == [None, None]


def test_tables_to_a_pipe_keep_one_row_per_line(clpbert_home: Path):
    """`datasets list | cat` once split `tgif_qa_transition` over two lines; a pipe gets whole rows."""
    from clpbert.registry import open_registry

    with open_registry() as reg:
        for name in ("tgif-transition-with-a-rather-long-name", "tgif-frameqa"):
            reg.add_dataset(name, task="tgif_qa_transition", format="tgif_qa",
                            splits={"train": 52704, "val": 2000, "test": 6232})
    proc = run_cli(clpbert_home, "datasets", "list")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 3 and lines[0].split() == ["NAME", "TASK", "FORMAT", "SPLITS", "CREATED"]
    for line in lines[1:]:
        assert " tgif_qa_transition " in line and "train=52704, val=2000, test=6232" in line
    assert lines[1].startswith("tgif-frameqa ")
    assert lines[2].startswith("tgif-transition-with-a-rather-long-name ")
    column = lines[0].index("TASK")
    assert lines[1].index("tgif_qa_transition") == lines[2].index("tgif_qa_transition") == column


def test_runs_show_splits_step_time_and_names_a_loader_bound_run(clpbert_home: Path):
    from clpbert.registry import open_registry

    def timed_run(reg, name: str, data_s: float, step_s: float) -> str:
        run = reg.create_run("finetune", "demo", name=name, state="finished")
        split = {"data_s": data_s, "fwd_bwd_s": step_s - data_s - 0.01, "optimizer_s": 0.01, "comm_s": 0.0,
                 "step_s": step_s, "data_frac": data_s / step_s}
        reg.add_metrics(run.id, [(10, f"train/time/{k}", v, 0.0) for k, v in split.items()])
        return run.id

    with open_registry() as reg:
        slow = timed_run(reg, "slow-decode", data_s=0.45, step_s=1.0)
        fast = timed_run(reg, "fast", data_s=0.05, step_s=1.0)
    shown = run_cli(clpbert_home, "runs", "show", slow).stdout
    assert "step time  1.000 s: 0.450 s data wait, 0.540 s fwd+bwd, 0.010 s optimizer" in shown
    assert "loader-bound: 45% of step time waits for data; pack with --frames-fps or raise data.num_workers" \
        in shown
    shown = run_cli(clpbert_home, "runs", "show", fast).stdout
    assert "0.050 s data wait" in shown and "loader-bound" not in shown
