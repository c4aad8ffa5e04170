"""Bad launch requests are refused up front: exit 2, one line, no run row and no run directory
(issue 17, defect 8). Each case was accepted before, or failed only inside the created run."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import pytest

# passes the dataset check without generating the demo dataset; these requests never get further
NO_DATA = ["--set", "data.dataset=", "--set", "data.txt_db=unused"]


@pytest.fixture
def cli(inproc):
    """`clpbert ARGS` in this process (the `inproc` fixture in tests/conftest.py)."""
    return inproc


def _refused(res: subprocess.CompletedProcess[str], home: Path, *words: str) -> None:
    assert res.returncode == 2, (res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    for w in words:
        assert w in lines[0], lines[0]
    runs = home / "runs"
    assert not runs.exists() or not any(runs.iterdir()), "a run directory was left behind"
    from clpbert.registry import open_registry

    with open_registry() as reg:
        assert reg.list_runs() == []


@pytest.mark.parametrize(("setting", "words"), [
    ("optim.max_steps=-5", ("optim.max_steps", "negative")),
    ("optim.lr=-1", ("optim.lr", "greater than 0")),
    ("optim.lr=0", ("optim.lr", "greater than 0")),
    ("optim.lr=nan", ("optim.lr", "finite")),
    ("optim.cnn_lr=inf", ("optim.cnn_lr", "finite")),
    ("optim.epochs=-1", ("optim.epochs",)),
    ("data.batch_size=0", ("data.batch_size",)),
    ("model.hidden_dropout=1.5", ("model.hidden_dropout", "[0, 1]")),
    ("task.mlm_prob=-0.1", ("task.mlm_prob", "[0, 1]")),
    ("optim.warmup_ratio=2", ("optim.warmup_ratio",)),
    ("optim.betas=0.9,1.5", ("optim.betas",)),
    ("runtime.time_limit_s=-1", ("runtime.time_limit_s",)),
])
def test_out_of_range_values_are_refused_at_launch(cli, clpbert_home: Path, setting: str,
                                                   words: tuple[str, ...]):
    _refused(cli("run", "finetune", "--task", "demo", *NO_DATA, "--set", setting), clpbert_home, *words)


def test_config_show_refuses_what_the_launch_refuses(cli, clpbert_home: Path):
    res = cli("config", "show", "--task", "demo", "--set", "optim.lr=nan")
    assert res.returncode == 2 and "optim.lr" in res.stderr


def _bad_weights(tmp_path: Path) -> dict[str, Path]:
    files = {"random": tmp_path / "random.pt", "empty": tmp_path / "empty.pt", "text": tmp_path / "text.pt",
             "zip": tmp_path / "other.zip"}
    files["random"].write_bytes(bytes(range(256)) * 64)
    files["empty"].write_bytes(b"")
    files["text"].write_text("these are not weights\n")
    with zipfile.ZipFile(files["zip"], "w") as z:
        z.writestr("readme.txt", "hello")
    return files


@pytest.mark.parametrize("case", ["missing", "random", "empty", "text", "zip"])
def test_init_weights_that_do_not_load_are_refused_at_launch(cli, clpbert_home: Path, tmp_path: Path,
                                                             case: str):
    path = tmp_path / "missing.pt" if case == "missing" else _bad_weights(tmp_path)[case]
    res = cli("run", "finetune", "--task", "demo", *NO_DATA, "--init", str(path))
    _refused(res, clpbert_home, path.name)


def test_init_cnn_that_does_not_load_is_refused_at_launch(cli, clpbert_home: Path, tmp_path: Path):
    bad = _bad_weights(tmp_path)["text"]
    # init_bert emptied: the preset's bert-base-uncased is not registered here (refused on its own)
    res = cli("run", "pretrain", *NO_DATA, "--set", f"runtime.init_cnn={bad}", "--set", "runtime.init_bert=")
    _refused(res, clpbert_home, "runtime.init_cnn" if "runtime.init_cnn" in res.stderr else bad.name)


def test_unknown_init_reference_is_refused_at_launch(cli, clpbert_home: Path):
    _refused(cli("run", "finetune", "--task", "demo", *NO_DATA, "--init", "no-such-ckpt"), clpbert_home,
             "no-such-ckpt", "clpbert ckpts list")


@pytest.mark.parametrize(("spec", "words"), [
    ("autopilot", ("autopilot", "auto:N")),
    ("automatic:2", ("automatic:2",)),
    ("auto:0", ("auto:0",)),
    ("auto:999", ("auto:999", "only 2 GPU")),
    ("0,0", ("listed twice",)),
    ("7", ("no GPU 7",)),
])
def test_gpu_requests_the_machine_cannot_meet_are_refused(cli, clpbert_home: Path, spec: str,
                                                          words: tuple[str, ...]):
    res = cli("run", "finetune", "--task", "demo", *NO_DATA, "--gpus", spec, fake_nvml="2-gpus-idle")
    _refused(res, clpbert_home, *words)


def test_strict_gpu_syntax_also_without_a_driver(cli, clpbert_home: Path):
    # no GPU here: a well-formed auto:N falls back to the CPU, a malformed one is still an error
    res = cli("run", "finetune", "--task", "demo", *NO_DATA, "--gpus", "autopilot", fake_nvml="no-driver")
    _refused(res, clpbert_home, "autopilot")


def test_a_loadable_init_file_is_accepted_and_stored_absolute(clpbert_home: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch):
    import torch

    from clpbert.registry import open_registry
    from clpbert.runs.service import LaunchRequest, launch_run

    torch.save({"cnn.feature.backbone.stem.conv1.weight": torch.zeros(8, 3, 7, 7)}, tmp_path / "w.pt")
    monkeypatch.chdir(tmp_path)
    with open_registry() as reg:
        run = launch_run(reg, LaunchRequest(kind="finetune", task="demo", init="w.pt",
                                            sets=["data.dataset=", "data.txt_db=unused"]), start=False)
        assert run.config["runtime"]["init_checkpoint"] == str(tmp_path / "w.pt")


@pytest.mark.parametrize("case", ["random", "empty", "text", "zip"])
def test_ckpts_add_refuses_files_that_do_not_load(cli, clpbert_home: Path, tmp_path: Path, case: str):
    path = _bad_weights(tmp_path)[case]
    res = cli("ckpts", "add", str(path))
    assert res.returncode == 2 and path.name in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert cli("ckpts", "list", "--json").stdout.strip() == "[]"
