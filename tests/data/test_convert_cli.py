"""`clpbert datasets prepare/verify` end to end in a subprocess, with a private CLPBERT_HOME."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.real

CLPBERT = Path(sys.executable).with_name("clpbert")


def _run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CLPBERT_HOME": str(home)}
    env.pop("CLPBERT_DB_URL", None)
    return subprocess.run([str(CLPBERT), *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def tgif_ann(real_data: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "tgif_ann"
    folder.mkdir()
    for name in ("Test_action_question.csv", "Test_transition_question.csv"):
        shutil.copy(real_data / "tgif_qa" / name, folder / name)
    return folder


def test_prepare_json_then_list_and_verify(clpbert_home: Path, real_data: Path, tgif_ann: Path):
    videos = str(real_data / "videos" / "tgif")
    done = _run(clpbert_home, "datasets", "prepare", "tgif_qa", "--annotations", str(tgif_ann),
                "--videos", videos, "--name", "tg", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert [d["name"] for d in report["datasets"]] == ["tg-action", "tg-transition"]
    action = report["datasets"][0]
    assert action["format"] == "tgif_qa" and action["splits"] == {"test": 2274}
    assert action["missing_videos"] == 2272 and Path(action["txt_db"]).is_dir()
    assert report["missing_videos"] > 0 and "videos missing" in done.stderr

    listed = _run(clpbert_home, "datasets", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    rows = rows["datasets"] if isinstance(rows, dict) else rows
    assert {"tg-action", "tg-transition"} <= {r["name"] for r in rows}

    verify = _run(clpbert_home, "datasets", "verify", "tg-action", "--no-decode", "--json")
    assert verify.returncode == 1  # most gif_names have no video
    out = json.loads(verify.stdout)
    assert out["ok"] is False and len(out["missing"]) == 2272


def test_strict_exits_2_with_one_line_and_registers_nothing(clpbert_home: Path, real_data: Path,
                                                            tgif_ann: Path):
    done = _run(clpbert_home, "datasets", "prepare", "tgif_qa", "-a", str(tgif_ann), "--videos",
                str(real_data / "videos" / "tgif"), "--name", "tg", "--strict")
    assert done.returncode == 2
    assert "--strict" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    from clpbert.registry import open_registry

    with open_registry() as reg:  # the same CLPBERT_HOME (the fixture sets it in this process too)
        assert reg.list_datasets() == []


def test_user_mistakes_exit_2_without_traceback(clpbert_home: Path, tmp_path: Path):
    done = _run(clpbert_home, "datasets", "prepare", "nope", "-a", str(tmp_path), "--name", "x")
    assert done.returncode == 2 and "unknown dataset format 'nope'" in done.stderr
    assert "Traceback" not in done.stderr


def test_prepare_says_how_val_was_held_out(clpbert_home: Path, real_data: Path, tmp_path: Path):
    folder = tmp_path / "tgif_train_test"
    folder.mkdir()
    for name in ("Train_action_question.csv", "Test_action_question.csv"):
        shutil.copy(real_data / "tgif_qa" / name, folder / name)
    done = _run(clpbert_home, "datasets", "prepare", "tgif_qa", "-a", str(folder), "--name", "tg")
    assert done.returncode == 0, done.stderr
    assert "registered tg-action (tgif_qa_action): train 18,424, val 2,047, test 2,274" in done.stdout
    held = [line for line in done.stderr.splitlines() if "held out" in line]
    assert held == ["note: action: val: 10% of Train_action videos held out (2,047 videos, seeded by video "
                    "id); test = Test_action_question.csv (the official test), evaluated once on the "
                    "checkpoint chosen on val"]
