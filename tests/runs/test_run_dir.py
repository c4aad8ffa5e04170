"""RunDir: the one definition of a run dir's paths, and its atomic JSON reads and writes."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from clpbert.runs import run_dir as rd_mod
from clpbert.runs.run_dir import LAUNCH_FILE, RunDir

ROOT = Path(__file__).resolve().parents[2]


def test_every_path_of_the_layout(tmp_path):
    rd = RunDir(tmp_path / "abc123")
    rel = {name: getattr(rd, name).relative_to(rd.path).as_posix() for name in (
        "run_file", "config", "launch_file", "control_file", "processes_file", "events", "ingest_offset",
        "ingest_lock", "slurm_script", "logs", "train_log", "supervisor_log", "checkpoints",
        "latest_pointer", "best_checkpoint")}
    assert rel == {"run_file": "run.json", "config": "config.yaml", "launch_file": "launch.json",
                   "control_file": "control.json", "processes_file": "processes.json",
                   "events": "events.jsonl", "ingest_offset": "ingest.offset", "ingest_lock": "ingest.lock",
                   "slurm_script": "job.sbatch", "logs": "logs", "train_log": "logs/train.log",
                   "supervisor_log": "logs/supervisor.log", "checkpoints": "checkpoints",
                   "latest_pointer": "checkpoints/latest.json", "best_checkpoint": "checkpoints/best.pt"}
    assert rd.slurm_log("42").name == "slurm-42.out" and rd.slurm_log().name == "slurm-%j.out"
    assert not rd.path.exists()  # naming a path touches nothing
    assert rd.create().logs.is_dir()


def test_json_round_trip_replaces_whole_files_and_leaves_no_temp_files(tmp_path):
    rd = RunDir(tmp_path).create()
    assert rd.read_json(LAUNCH_FILE) is None  # missing
    rd.write_json(LAUNCH_FILE, {"resume": False, "name": "ünïcode"}, indent=1)
    rd.write_json(LAUNCH_FILE, {"resume": True})
    assert rd.read_json(LAUNCH_FILE) == {"resume": True}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["launch.json", "logs"]
    rd.launch_file.write_text('{"torn": ')  # a torn file reads as unreadable, never raises
    assert rd.read_json(LAUNCH_FILE) is None
    with pytest.raises(TypeError):  # not JSON-serialisable: the previous file stays, no temp file left
        rd.write_json(LAUNCH_FILE, {"bad": object()})
    assert rd.launch_file.read_text() == '{"torn": '
    assert sorted(p.name for p in tmp_path.iterdir()) == ["launch.json", "logs"]


def test_latest_checkpoint_follows_the_pointer_only_to_an_existing_file(tmp_path):
    rd = RunDir(tmp_path)
    assert rd.latest_checkpoint() is None and rd.latest_target() is None
    rd.checkpoints.mkdir()
    rd.latest_pointer.write_text(json.dumps({"step": 5, "path": "step_0000005.pt"}))
    assert rd.latest_target() == rd.checkpoints / "step_0000005.pt"
    assert rd.latest_checkpoint() is None  # named, not there
    (rd.checkpoints / "step_0000005.pt").write_bytes(b"x")
    assert rd.latest_checkpoint() == rd.checkpoints / "step_0000005.pt"
    rd.latest_pointer.write_text("[1, 2]")  # a pointer of the wrong shape is no pointer
    assert rd.latest_target() is None


FILE_NAMES = {v for k, v in vars(rd_mod).items() if k.isupper() and isinstance(v, str) and "." in v}


def _spelled(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text())
    return [(n.lineno, n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value in FILE_NAMES]


def test_run_dir_file_names_are_defined_once():
    """Every other module names run-dir files through clpbert.runs.run_dir (once: EVENTS_FILE and
    CKPT_DIR were each defined twice, logs/train.log spelled out seven times)."""
    found = {}
    for package in ("clpbert", "cli", "tui"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path == Path(rd_mod.__file__).resolve():
                continue
            hits = _spelled(path)
            if hits:
                found[path.relative_to(ROOT).as_posix()] = hits
    assert not found, f"run-dir file names spelled outside clpbert/runs/run_dir.py: {found}"


def test_the_run_manager_writes_through_fileio():
    """No hand-written temp-file-and-rename in clpbert/runs/ (they skipped fsync and temp cleanup)."""
    offenders = []
    for path in sorted((ROOT / "clpbert" / "runs").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in {"replace", "rename"} and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "os"):
                offenders.append(f"{path.name}:{node.lineno}")
    assert not offenders
