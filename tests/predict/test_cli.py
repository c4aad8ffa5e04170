"""`clpbert predict` end to end in a subprocess: --json on stdout, one stderr line per bad file."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _cli(args, home, timeout=300):
    env = {**os.environ, "CLPBERT_HOME": str(home), "PYTHONPATH": str(REPO)}
    env.pop("CLPBERT_DB_URL", None)
    return subprocess.run([sys.executable, "-m", "cli.app", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.slow
@pytest.mark.timeout(1800)  # may train the shared fixtures (tests/predict/conftest.py)
def test_predict_json_end_to_end(qa_run, demo_data, tmp_path):
    run_dir, _ = qa_run
    folder = tmp_path / "videos"
    folder.mkdir()
    for i in range(2):
        shutil.copy(demo_data / "videos" / f"demo_val_{i:05d}.mp4", folder)
    (folder / "zz_broken.webm").write_bytes(b"not a video at all")
    args = ["predict", "--ckpt", str(run_dir / "checkpoints" / "best.pt"), "--task", "demo", "--video",
            str(folder), "--question", "what color is the shape?", "--top-k", "3", "--json"]
    proc = _cli(args, tmp_path / "home")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["task"] == "demo" and data["sampling"]["L"] == 128
    assert [os.path.basename(p["path"]) for p in data["predictions"]] == ["demo_val_00000.mp4",
                                                                         "demo_val_00001.mp4"]
    assert all(len(p["answers"]) == 3 for p in data["predictions"])
    probs = [a["prob"] for a in data["predictions"][0]["answers"]]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0001
    assert len(data["errors"]) == 1 and data["errors"][0]["path"].endswith("zz_broken.webm")
    # "records": the saved-predictions schema (clpbert runs predictions), one row per prediction
    from clpbert.predictions.schema import COLUMNS

    assert [set(r) for r in data["records"]] == [set(COLUMNS)] * 2
    for rec, p in zip(data["records"], data["predictions"], strict=True):
        assert rec["video_key"] == p["path"] and rec["text"] == p["question"]
        assert rec["candidates"] == [a["answer"] for a in p["answers"]]
        assert rec["pred"] == rec["candidates"][0]
        assert rec["answer"] is None and rec["correct"] is None
    bad_lines = [line for line in proc.stderr.splitlines() if "zz_broken.webm" in line]
    assert len(bad_lines) == 1
    # the second call reads every feature from the on-disk cache
    again = _cli(args, tmp_path / "home")
    stats = json.loads(again.stdout)["stats"]
    assert stats["cnn_videos"] == 0 and stats["cache_hits"] == 2


def test_predict_user_errors_are_one_line(tmp_path):
    proc = _cli(["predict", "--ckpt", str(tmp_path / "nope.pt"), "--video", str(tmp_path)], tmp_path / "home")
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "nope.pt" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
@pytest.mark.timeout(1800)  # may train the shared fixtures (tests/predict/conftest.py)
def test_predict_retrieval_query_ranks_its_video_first(ret_run, tmp_path, helpers, margin):
    run_dir, _ = ret_run
    folder = tmp_path / "videos"
    folder.mkdir()
    videos = helpers.render_colours(654, folder)
    path, caption = videos[len(videos) // 2]
    captions = [arg for _, c in videos for arg in ("--caption", c)]  # the query's own text among them
    proc = _cli(["predict", "--ckpt", str(run_dir), "--task", "msrvtt_ret", "--video", str(folder), "--query",
                 caption, *captions, "--json"], tmp_path / "home")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    (ranking,) = out["rankings"]
    assert ranking["query"] == caption and len(ranking["ranking"]) == len(helpers.COLORS)
    assert os.path.basename(ranking["ranking"][0]["path"]) == path.name, ranking
    margin("text->video lead", ranking["ranking"][0]["score"] - ranking["ranking"][1]["score"], 0.0)
    own = {p.name: c for p, c in videos}
    assert len(out["videos"]) == len(videos)
    for video in out["videos"]:  # --caption: each video ranks the captions, its own first
        assert len(video["captions"]) == len(videos)
        assert video["captions"][0]["caption"] == own[os.path.basename(video["path"])], video
        margin("video->text lead", video["captions"][0]["score"] - video["captions"][1]["score"], 0.0)
    t2v = [r for r in out["records"] if r["type"] == "t2v"]
    v2t = [r for r in out["records"] if r["type"] == "v2t"]
    assert len(t2v) == 1 and t2v[0]["pred"] == ranking["ranking"][0]["path"]
    assert len(t2v[0]["candidates"]) == 5
    assert [r["pred"] for r in v2t] == [v["captions"][0]["caption"] for v in out["videos"]]
