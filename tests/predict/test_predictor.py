"""Predictor on real trained checkpoints and real mp4 files: QA accuracy, retrieval, cache, bad files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]  # the first test also trains the shared fixtures


def _accuracy(pred, files_records) -> float:
    """Share of (video, question) records whose top-1 answer is right, asking each its own question."""
    by_question: dict[str, list[tuple[Path, str]]] = {}
    for path, records in files_records:
        for r in records:
            by_question.setdefault(r["question"], []).append((path, r["answer"]))
    correct = total = 0
    for question, pairs in by_question.items():  # one batched call per question
        res = pred.qa([p for p, _ in pairs], [question], top_k=1)
        assert not res.errors
        for p, (path, answer) in zip(res.predictions, pairs, strict=True):
            assert Path(p.path).name == path.name
            correct += p.answers[0].answer == answer
            total += 1
    return correct / total


def test_qa_matches_the_runs_own_eval(qa_run, demo_data, tmp_path, helpers, margin):
    """A well-trained demo model: its eval accuracy on the val mp4s, and on freshly generated videos."""
    from clpbert.predict import Predictor

    run_dir, metrics = qa_run
    pred = Predictor.from_ref(str(run_dir), cache_root=tmp_path / "cache")  # a run dir -> its best.pt
    assert pred.source.path.name == "best.pt" and pred.source.config_from == "checkpoint"
    assert pred.source.label_names[:3] == ["red", "green", "blue"] and pred.source.labels_from == "checkpoint"
    # 1) the val videos' own mp4s, through the predict path: the eval's accuracy (mp4 vs JPEG frame store)
    by_video: dict[str, list[dict]] = {}
    for line in (demo_data / "txt_db" / "val.jsonl").read_text().splitlines():
        r = json.loads(line)
        by_video.setdefault(r["video_id"], []).append(r)
    val = [(demo_data / "videos" / f"{vid}.mp4", recs) for vid, recs in by_video.items()]
    acc_val = _accuracy(pred, val)
    margin("|val acc via predict - eval acc|", abs(acc_val - metrics["acc"]), 0.08)
    assert abs(acc_val - metrics["acc"]) <= 0.08, (acc_val, metrics)
    # 2) freshly generated videos (another seed): right answers, as accurate as the run's eval
    fresh_dir = tmp_path / "fresh"
    fresh_dir.mkdir()
    fresh = [helpers.render(123, i, fresh_dir) for i in range(32)]
    acc_fresh = _accuracy(pred, fresh)
    margin("fresh acc", acc_fresh, 0.85)
    margin("|fresh acc - eval acc|", abs(acc_fresh - metrics["acc"]), 0.1)
    assert acc_fresh >= 0.85 and abs(acc_fresh - metrics["acc"]) <= 0.1, (acc_fresh, metrics)


def _resave(src: Path, dst: Path, drop_labels: bool = False, **data) -> Path:
    """A copy of a trainer checkpoint with some data.* paths replaced (and label_names removed)."""
    state = torch.load(src, map_location="cpu", weights_only=True)
    if drop_labels:
        del state["label_names"]  # what checkpoints written before the trainer stored them look like
    state["config"]["data"].update(data)
    (dst / "checkpoints").mkdir(parents=True)
    path = dst / "checkpoints" / "best.pt"
    torch.save(state, path)
    return path


def test_label_names_travel_in_the_checkpoint(qa_run, demo_data, tmp_path):
    """The trainer stores the answers; old checkpoints fall back to the dataset's ans2label.json."""
    from clpbert.predict import Predictor

    best = qa_run[0] / "checkpoints" / "best.pt"
    a2l = json.loads((demo_data / "txt_db" / "ans2label.json").read_text())
    names = sorted(a2l, key=a2l.get)
    assert torch.load(best, map_location="cpu", weights_only=True)["label_names"] == names
    tok = tmp_path / "tok"
    shutil.copytree(demo_data / "tokenizer", tok)
    video = demo_data / "videos" / "demo_val_00000.mp4"
    truth = json.loads((demo_data / "txt_db" / "val.jsonl").read_text().splitlines()[0])
    assert truth["video_id"] == "demo_val_00000"
    gone = tmp_path / "gone"  # the dataset is not on this machine: only the checkpoint and a tokenizer
    moved = dict(txt_db=str(gone / "txt_db"), vis_db=str(gone / "vis_db"), tokenizer=str(tok))
    pred = Predictor.from_ref(str(_resave(best, tmp_path / "new", **moved)), cache=False)
    assert pred.source.label_names == names and pred.source.labels_from == "checkpoint"
    assert pred.qa([video], [truth["question"]]).predictions[0].answers[0].answer == truth["answer"]
    # an old-style checkpoint (no label_names) reads the run's dataset, as before ...
    old = Predictor.from_ref(str(_resave(best, tmp_path / "old", drop_labels=True)), cache=False)
    assert old.source.label_names == names
    assert old.source.labels_from == str(demo_data / "txt_db" / "ans2label.json")
    assert old.qa([video], [truth["question"]]).predictions[0].answers[0].answer == truth["answer"]
    # ... and without it says so once and shows label indices
    bare = Predictor.from_ref(str(_resave(best, tmp_path / "bare", drop_labels=True, **moved)), cache=False)
    assert bare.source.label_names is None and any("answer names" in n for n in bare.source.notes)
    label = bare.qa([video], [truth["question"]]).predictions[0].answers[0]
    assert label.answer == f"<label {a2l[truth['answer']]}>"


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
    r2 = p2.qa([folder], ["what is the color?", "what color is the shape?"])
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


def test_retrieval_ranks_the_matching_video_first(ret_run, tmp_path, helpers, margin):
    """Each fresh video's own description ranks it first among videos of the other colours, and each
    video ranks its own description first among the other colours' (both directions of the matrix).

    Margin (lead of the right answer over the runner-up, limit 0.3), measured on 60 fresh three-shape
    videos (10 colour sets) per trajectory, retraining both fixtures each time: seed 0 / 1 thread
    >= 0.812, seed 0 / 2 threads >= 0.779, seed 1 / 2 threads >= 0.817, seed 2 / 1 thread >= 0.804
    (all but the first on a box loaded 5-8 by other jobs), all with 240 retrieval steps; seed 3 /
    2 threads failed there (red videos also matched "yellow": lead 0.045), so the fixture trains 480
    steps, where seed 3 / 2 threads led by >= 0.828. Seed 1 / 2 threads is the trajectory that failed
    before the QA fixture had 400 steps and the test videos three shapes. With 480 steps, in full
    clean-clone suite runs: seed 0 / 1 thread >= 0.817 (bit-identical in 5 runs, idle, loaded 5-8 and
    beside a busy loop), seed 11 / 2 threads >= 0.842.
    """
    from clpbert.predict import Predictor

    run_dir, metrics = ret_run
    folder = tmp_path / "fresh"
    folder.mkdir()
    videos = helpers.render_colours(321, folder)  # [(v0.mp4, "purple"), ...]: one video per colour
    assert sorted(c for _, c in videos) == sorted(helpers.COLORS)
    pred = Predictor.from_ref(str(run_dir), cache=False)
    res = pred.retrieval([folder], [c for _, c in videos])
    for i, (path, caption) in enumerate(videos):
        (top, s1), (_, s2) = res.rank_videos(i)[:2]
        margin("text->video lead", s1 - s2 if Path(top).name == path.name else s2 - s1, 0.3)
        assert Path(top).name == path.name and s1 > s2 + 0.3, (caption, res.rank_videos(i), metrics)
    for j, (_, caption) in enumerate(videos):
        (top, s1), (_, s2) = res.rank_texts(j)[:2]
        margin("video->text lead", s1 - s2 if top == caption else s2 - s1, 0.3)
        assert top == caption and s1 > s2 + 0.3, (caption, res.rank_texts(j), metrics)


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
