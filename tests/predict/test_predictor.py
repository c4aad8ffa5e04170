"""Predictor on real trained checkpoints and real mp4 files: QA accuracy, retrieval, cache, bad files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.slow


def _accuracy(pred, files_records) -> float:
    """Share of (video, question) records whose top-1 answer is right, asking each its own question."""
    correct = total = 0
    for path, records in files_records:
        res = pred.qa([path], [r["question"] for r in records], top_k=1)
        assert not res.errors
        for p, r in zip(res.predictions, records, strict=True):
            correct += p.answers[0].answer == r["answer"]
            total += 1
    return correct / total


def test_qa_matches_the_runs_own_eval(qa_run, demo_data, tmp_path, helpers):
    from clpbert.predict import Predictor

    run_dir, metrics = qa_run
    pred = Predictor.from_ref(str(run_dir), cache_root=tmp_path / "cache")  # a run dir -> its best.pt
    assert pred.source.path.name == "best.pt" and pred.source.config_from == "checkpoint"
    assert pred.source.label_names[:3] == ["red", "green", "blue"]  # from the dataset's ans2label.json
    # 1) the val videos' own mp4s, through the predict path: the eval's accuracy (mp4 vs JPEG frame store)
    by_video: dict[str, list[dict]] = {}
    for line in (demo_data / "txt_db" / "val.jsonl").read_text().splitlines():
        r = json.loads(line)
        by_video.setdefault(r["video_id"], []).append(r)
    val = [(demo_data / "videos" / f"{vid}.mp4", recs) for vid, recs in by_video.items()]
    acc_val = _accuracy(pred, val)
    assert abs(acc_val - metrics["acc"]) <= 0.08, (acc_val, metrics)
    # 2) freshly generated videos (another seed): the same accuracy within sampling noise
    fresh_dir = tmp_path / "fresh"
    fresh_dir.mkdir()
    fresh = [helpers.render(123, i, fresh_dir) for i in range(16)]
    acc_fresh = _accuracy(pred, fresh)
    assert abs(acc_fresh - metrics["acc"]) <= 0.2, (acc_fresh, metrics)


def test_retrieval_ranks_by_score_and_copies_tie(ret_ckpt, demo_data, tmp_path):
    """Rankings follow the P(match) matrix both ways; a byte-identical copy gets the same scores."""
    from clpbert.predict import Predictor

    folder = tmp_path / "v"
    folder.mkdir()
    for i in range(3):
        shutil.copy(demo_data / "videos" / f"demo_val_{i:05d}.mp4", folder / f"v{i}.mp4")
    shutil.copy(folder / "v1.mp4", folder / "v1_copy.mp4")
    pred = Predictor.from_ref(str(ret_ckpt), cache_root=tmp_path / "cache")
    res = pred.retrieval([folder], ["red", "two blue square"])
    assert pred.stats.cnn_videos == 3  # the copy's features are shared, not recomputed
    names = [Path(p).name for p in res.paths]
    assert names == ["v0.mp4", "v1.mp4", "v1_copy.mp4", "v2.mp4"]
    assert torch.equal(res.scores[:, 1], res.scores[:, 2])
    assert ((res.scores > 0) & (res.scores < 1)).all()
    for i in range(2):
        ranked = res.rank_videos(i)
        assert [s for _, s in ranked] == sorted(res.scores[i].tolist(), reverse=True)
    assert [s for _, s in res.rank_texts(0)] == sorted(res.scores[:, 0].tolist(), reverse=True)


def test_feature_cache_hit_and_invalidation(qa_run, demo_data, tmp_path):
    from clpbert.predict import Predictor

    run_dir, _ = qa_run
    folder = tmp_path / "videos"
    folder.mkdir()
    for i in range(3):
        shutil.copy(demo_data / "videos" / f"demo_val_{i:05d}.mp4", folder)
    cache = tmp_path / "cache"
    p1 = Predictor.from_ref(str(run_dir), cache_root=cache)
    r1 = p1.qa([folder], ["what color is the shape?"])
    assert p1.stats.cnn_videos == 3 and p1.cache.stats.writes == 3
    assert len(p1.cache.entries()) == 3
    p2 = Predictor.from_ref(str(run_dir), cache_root=cache)  # a new process would do the same
    r2 = p2.qa([folder], ["how many shapes are there?", "what color is the shape?"])
    assert p2.stats.cnn_videos == 0 and p2.cache.stats.hits == 3
    same = [p for p in r2.predictions if p.question == "what color is the shape?"]
    for a, b in zip(r1.predictions, same, strict=True):
        assert a.answers[0].answer == b.answers[0].answer
        assert a.answers[0].prob == pytest.approx(b.answers[0].prob, abs=1e-5)
    # replacing one file's content changes its hash: that one (only) goes through the CNN again
    shutil.copy(demo_data / "videos" / "demo_val_00005.mp4", folder / "demo_val_00001.mp4")
    p3 = Predictor.from_ref(str(run_dir), cache_root=cache)
    p3.qa([folder], ["what color is the shape?"])
    assert p3.stats.cnn_videos == 1 and p3.cache.stats.hits == 2
    # another sampling config is another key: no stale features
    p4 = Predictor.from_ref(str(run_dir), cache_root=cache)
    p4.cfg.data.max_img_size = 96
    from clpbert.predict.feature_cache import FeatureCache, model_key
    from clpbert.predict.inputs import frame_spec

    key, _ = model_key(p4.model, p4.cfg.model, frame_spec(p4.cfg).key(), p4.precision)
    assert FeatureCache(cache, key).dir != p1.cache.dir


def test_cached_path_equals_the_full_forward(ret_ckpt, demo_data):
    """Scores from cached features + transformer equal ClipBert.forward on the frames (no cache)."""
    from clpbert.predict import Predictor
    from clpbert.predict.inputs import collect, load

    pred = Predictor.from_ref(str(ret_ckpt), cache=False)
    files = [demo_data / "videos" / f"demo_val_{i:05d}.mp4" for i in range(3)]
    res = pred.retrieval(files, ["red", "blue"])
    ids, mask = pred._tokenize(["red", "blue"])
    from clpbert.model import aggregate_clip_scores

    with torch.no_grad():
        for j, m in enumerate(collect(files)):
            frames = load(m, m.path.read_bytes(), pred.spec).unsqueeze(0)  # (1, N, T, 3, L, L)
            logits = pred.model(frames, ids, mask, torch.tensor([2]))
            p = aggregate_clip_scores(logits, pred.cfg.task.score_agg_func).softmax(-1)[:, 1]
            assert torch.allclose(p, res.scores[:, j], atol=1e-5)


def test_corrupt_file_is_one_error_and_the_rest_predict(qa_run, demo_data, tmp_path):
    from clpbert.predict import Predictor

    run_dir, _ = qa_run
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(demo_data / "videos" / "demo_val_00000.mp4", folder / "a.mp4")
    (folder / "b_corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    shutil.copy(demo_data / "videos" / "demo_val_00002.mp4", folder / "c.mp4")
    res = Predictor.from_ref(str(run_dir), cache=False).qa([folder], ["what color is the shape?"])
    assert [Path(p.path).name for p in res.predictions] == ["a.mp4", "c.mp4"]
    assert len(res.errors) == 1 and res.errors[0].path.endswith("b_corrupt.mp4")
    assert "\n" not in res.errors[0].error
