"""vis_db: real LMDB packing of the real videos, frame store round trip, lazy per-process opening."""

from __future__ import annotations

import multiprocessing as mp
import pickle

import pytest

from clpbert.data.decode import load_frames
from clpbert.data.vis_db import (
    MissingVideoError,
    VisDB,
    VisDBWriter,
    decode_value,
    encode_frames,
    pack_files,
    pack_frames_from_video,
)
from clpbert.errors import UserError


def test_real_videos_pack_into_lmdb_keyed_by_stem(real_vis_db, real_videos):
    db = VisDB(real_vis_db)
    assert not db.is_open  # construction never opens the LMDB
    assert sorted(db.keys()) == sorted(real_videos)
    assert len(db) == 6 and "bikes" in db and "nope" not in db
    rec = db.get("tumblr_nk172bbdPI1u1lr18o1_250")
    assert rec.kind == "container" and rec.ext == "gif"
    assert rec.data == real_videos["tumblr_nk172bbdPI1u1lr18o1_250"].read_bytes()
    with pytest.raises(MissingVideoError):
        db.get("nope")


def test_missing_lmdb_is_one_clear_user_error(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        VisDB(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="not an LMDB"):
        VisDB(tmp_path / "empty")


def test_frame_store_round_trip(tmp_path, mp4):
    jpeg_frames, used = pack_frames_from_video(mp4([(200, 30, 30), (30, 30, 200)], size=(96, 64),
                                                        fps=10, frames_per_color=10), "mp4", 2.0, 48)
    assert used == 2.0 and len(jpeg_frames) == 4  # 2 s at 2 fps: t = 0, 0.5, 1.0, 1.5
    with VisDBWriter(tmp_path / "fs", commit_every=1) as w:
        w.put_frames("v1", jpeg_frames, used)
        assert "v1" in w
    rec = VisDB(tmp_path / "fs").get("v1")
    assert rec.kind == "frames" and rec.fps == 2.0 and rec.timestamps == [0.0, 0.5, 1.0, 1.5]
    assert rec.frames == jpeg_frames
    frames = load_frames(rec, lambda n, fps: list(range(n)))
    assert frames.shape == (4, 3, 32, 48)  # long side shrunk to 48, aspect kept
    reds = frames.float().mean(dim=(2, 3))[:, 0]
    assert reds[0] > 150 and reds[3] < 80  # red first second, blue second


def test_real_frame_store_counts(real_videos, tmp_path):
    report = pack_files([real_videos["bikes"], real_videos["tumblr_nk172bbdPI1u1lr18o1_250"]],
                        tmp_path / "fs", frame_store=True, fps=2, max_side=448)
    assert report.written == 2
    db = VisDB(tmp_path / "fs")
    bikes, gif = db.get("bikes"), db.get("tumblr_nk172bbdPI1u1lr18o1_250")
    assert bikes.num_frames == 20 and (bikes.width, bikes.height) in ((None, None), (448, 190))
    assert gif.num_frames == 8  # 40 frames x 100 ms = 4 s at 2 fps
    assert load_frames(bikes, lambda n, fps: [0]).shape == (1, 3, 190, 448)
    # resumable: a second pack skips what is there
    again = pack_files([real_videos["bikes"]], tmp_path / "fs", frame_store=True)
    assert again.skipped_existing == 1 and again.written == 0


def test_two_readers_and_a_writer_share_one_process(tmp_path):
    with VisDBWriter(tmp_path / "db") as w:
        w.put_container("a", b"1", "mp4")
    train, val = VisDB(tmp_path / "db"), VisDB(tmp_path / "db")  # train/val datasets share a vis_db
    assert "a" in train and "a" in val
    with VisDBWriter(tmp_path / "db") as w:  # packing more in the same process still works
        w.put_container("b", b"2", "mp4")
    assert "b" in train and len(val) == 2


def test_writer_commits_on_exception_so_packing_resumes(tmp_path):
    with pytest.raises(RuntimeError), VisDBWriter(tmp_path / "db", commit_every=100) as w:
        w.put_container("a", b"x" * 10, "mp4")
        raise RuntimeError("crash")
    assert "a" in VisDB(tmp_path / "db")


def test_original_raw_values_are_sniffed():
    rec = decode_value("k", b"GIF89a" + b"\0" * 10)
    assert rec.kind == "container" and rec.ext == "gif"
    assert decode_value("k", b"\0\0\0\x18ftypmp42" + b"\0" * 8).ext == "mp4"
    assert decode_value("k", b"\xff\xd8\xff\xe0" + b"\0" * 8).is_image
    rec = decode_value("k", encode_frames([b"ab", b"cde"], 2.0))
    assert rec.frames == [b"ab", b"cde"] and rec.timestamps == [0.0, 0.5]


def _child_reads(db: VisDB, q) -> None:
    q.put((db.is_open, db.get("bikes").ext, db.is_open))


def test_handle_is_per_process_and_reopened_after_fork(real_vis_db):
    db = VisDB(real_vis_db)
    assert db.get("bikes").ext == "mp4" and db.is_open
    clone = pickle.loads(pickle.dumps(db))
    assert not clone.is_open  # pickling (spawned workers) drops the handle
    q = mp.get_context("fork").Queue()
    p = mp.get_context("fork").Process(target=_child_reads, args=(db, q))
    p.start()
    p.join(30)
    assert q.get(timeout=5) == (False, "mp4", True)  # the child did not reuse the parent's env
    assert p.exitcode == 0
    assert db.get("bikes").ext == "mp4"  # the parent's handle survived the child closing its copy
