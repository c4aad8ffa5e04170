"""`clpbert ckpts inspect PATH --task TASK [--json]` end to end (real subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]


def clpbert(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CLPBERT_HOME": str(home)}
    env.pop("CLPBERT_DB_URL", None)
    return subprocess.run([sys.executable, "-m", "cli.app", *args], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=120)


def test_inspect_json_reports_mis_shaped_and_unused_keys(tmp_path: Path) -> None:
    path = tmp_path / "odd.pt"
    torch.save({"cnn.grid_encoder.0.weight": torch.zeros(2, 2, 3, 3),
                "transformer.bert.pooler.dense.bias": torch.zeros(768),
                "cnn.feature.roi_heads.box_head.fc1.bias": torch.zeros(3)}, path)
    proc = clpbert("ckpts", "inspect", str(path), "--task", "msrvtt_qa", "--json", home=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["format"] == "clipbert" and data["task"] == "msrvtt_qa"
    assert data["mis_shaped"] == [{"key": "cnn.grid_encoder.0.weight", "file": [2, 2, 3, 3],
                                   "model": [768, 2048, 3, 3]}]
    assert data["unused"] == ["cnn.feature.roi_heads.box_head.fc1.bias"]
    assert data["counts"]["loaded"] == 1


def test_inspect_garbage_file_is_a_one_line_user_error(tmp_path: Path) -> None:
    path = tmp_path / "garbage.pt"
    path.write_bytes(b"not a checkpoint at all")
    proc = clpbert("ckpts", "inspect", str(path), "--task", "msrvtt_qa", home=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "garbage.pt" in lines[0] and "Traceback" not in proc.stderr
