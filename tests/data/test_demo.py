"""The synthetic demo dataset: deterministic, real mp4s, loadable tokenizer, usable by the loaders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from clpbert.data import demo


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo.generate_demo_dataset(tmp_path_factory.mktemp("demo") / "demo", n_train=12, n_val=4, seed=3,
                                      workers=0)


def _frames(vis_db: Path) -> dict[str, list[bytes]]:
    from clpbert.data.vis_db import VisDB

    db = VisDB(vis_db)
    return {k: db.get(k).frames for k in sorted(db.keys())}


def test_layout_and_meta(demo_dir: Path):
    meta = json.loads((demo_dir / "txt_db" / "meta.json").read_text())
    assert meta["task"] == "demo" and meta["splits"]["train"] == 12 * len(demo.DEFAULT_TYPES)
    ans2label = json.loads((demo_dir / "txt_db" / "ans2label.json").read_text())
    rows = [json.loads(line) for line in (demo_dir / "txt_db" / "train.jsonl").read_text().splitlines()]
    assert {r["answer_type"] for r in rows} == set(demo.DEFAULT_TYPES) == set(meta["answer_types"])
    assert all(r["answer"] in ans2label for r in rows)
    assert len({r["video_id"] for r in rows}) == 12
    assert len(list((demo_dir / "videos").glob("*.mp4"))) == 16
    assert not list(demo_dir.parent.glob(".demo.tmp*"))  # the temp dir was renamed away


def test_same_seed_same_dataset_other_seed_differs(demo_dir: Path, tmp_path: Path):
    again = demo.generate_demo_dataset(tmp_path / "again", n_train=12, n_val=4, seed=3, workers=0)
    for rel in ("txt_db/train.jsonl", "txt_db/val.jsonl", "txt_db/ans2label.json", "tokenizer/vocab.txt",
                "tokenizer/tokenizer.json", "videos/demo_train_00005.mp4"):
        assert (demo_dir / rel).read_bytes() == (again / rel).read_bytes(), rel
    assert _frames(demo_dir / "vis_db") == _frames(again / "vis_db")
    other = demo.generate_demo_dataset(tmp_path / "other", n_train=12, n_val=4, seed=4, workers=0)
    assert (other / "txt_db/train.jsonl").read_bytes() != (demo_dir / "txt_db/train.jsonl").read_bytes()


def test_reuses_complete_dataset(demo_dir: Path):
    stamp = (demo_dir / "demo.json").stat().st_mtime_ns
    assert demo.generate_demo_dataset(demo_dir, n_train=12, n_val=4, seed=3, workers=0) == demo_dir
    assert (demo_dir / "demo.json").stat().st_mtime_ns == stamp


def test_mp4_is_real_h264_and_matches_the_question(demo_dir: Path):
    import av

    rows = [json.loads(line) for line in (demo_dir / "txt_db" / "train.jsonl").read_text().splitlines()]
    color_row = next(r for r in rows if r["answer_type"] == "color")
    with av.open(str(demo_dir / "videos" / f"{color_row['video_id']}.mp4")) as c:
        stream = c.streams.video[0]
        assert stream.codec_context.name == "h264"
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == 8 and frames[0].shape == (128, 128, 3)
    # the named colour is present: some pixels are close to it
    target = np.array(demo.COLORS[color_row["answer"]], np.float32)
    dist = np.abs(frames[0].astype(np.float32) - target).sum(-1)
    assert (dist < 60).sum() > 100


def test_frame_store_decodes(demo_dir: Path):
    from clpbert.data.decode import decode_jpegs
    from clpbert.data.vis_db import VisDB

    rec = VisDB(demo_dir / "vis_db").get("demo_val_00001")
    assert rec.kind == "frames" and rec.fps == 2.0 and rec.num_frames == 4
    imgs = decode_jpegs(rec.frames)
    assert tuple(imgs[0].shape) == (3, 128, 128)


def test_tokenizer_loads_and_knows_every_word(demo_dir: Path):
    from clpbert.data.tokenizer import load_tokenizer, tokenize

    tok = load_tokenizer(demo_dir / "tokenizer")
    assert len(tok) < 256  # fits the demo preset's vocab_size
    for qtype in demo.DEFAULT_TYPES:
        for q in demo.QUESTIONS[qtype]:
            assert tok.unk_token_id not in tok(q)["input_ids"], q
    ids, mask = tokenize(tok, ["what color is the shape?"], 16)
    assert ids.shape == (1, 16) and ids[0, 0] == tok.cls_token_id and mask.sum() == 8


def test_caption_txt_db_describes_each_video_in_known_words(demo_dir: Path, tmp_path: Path):
    from clpbert.data.datasets import record_key
    from clpbert.data.tokenizer import load_tokenizer
    from clpbert.data.txt_db import TxtDB

    out = demo.write_caption_txt_db(demo_dir, tmp_path / "ret")
    db, qa = TxtDB(out), TxtDB(demo_dir / "txt_db")
    assert db.meta()["task"] == "msrvtt_ret" and db.meta()["caption_types"] == ["count", "color"]
    tok = load_tokenizer(demo_dir / "tokenizer")
    for split in ("train", "val"):
        rows = db.read(split)
        answers = {(r["video_id"], r["answer_type"]): r["answer"] for r in qa.read(split)}
        assert len(rows) == len({v for v, _ in answers})  # one caption per video
        for r in rows:
            vid = record_key(r)
            assert r["caption"] == f"{answers[vid, 'count']} {answers[vid, 'color']}"
            assert tok.unk_token_id not in tok(r["caption"])["input_ids"]
