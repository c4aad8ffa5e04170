"""prepare(): real TGIF-QA files + GIFs -> txt_db + LMDB -> registry (clpbert/data/convert/prepare.py)."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest

from clpbert import paths
from clpbert.data.convert import prepare as prepare_mod
from clpbert.data.convert.prepare import prepare
from clpbert.data.txt_db import TxtDB
from clpbert.data.vis_db import VisDB
from clpbert.errors import UserError
from clpbert.registry import open_registry

pytestmark = pytest.mark.real


@pytest.fixture(scope="module")
def tgif_test(real_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The three real Test_*_question.csv files (no big Train file: keeps the tests fast)."""
    folder = tmp_path_factory.mktemp("tgif_ann")
    for p in (real_data / "tgif_qa").glob("Test_*_question.csv"):
        shutil.copy(p, folder / p.name)
    return folder


def _registered() -> dict[str, object]:
    with open_registry() as reg:
        return {d.name: d for d in reg.list_datasets()}


def test_tgif_registers_three_datasets_sharing_one_real_lmdb(clpbert_home: Path, real_data: Path,
                                                             tgif_test: Path):
    report = prepare("tgif_qa", tgif_test, "tgif", videos=real_data / "videos" / "tgif")
    names = [d.name for d in report.datasets]
    assert names == ["tgif-action", "tgif-transition", "tgif-frameqa"]
    assert report.packed == {"needed": 9107, "packed": 4, "already": 0, "failed": 0, "by_stem": 0}
    assert report.missing_videos == 9103 and len(report.missing_examples) == 10
    by_name = {d.name: d for d in report.datasets}
    assert by_name["tgif-action"].splits == {"test": 2274}
    assert by_name["tgif-transition"].splits == {"test": 6232}
    assert by_name["tgif-frameqa"].splits == {"test": 13691} and by_name["tgif-frameqa"].num_answers == 933

    rows = _registered()
    assert set(rows) == set(names)  # the shared store "tgif" itself is not a dataset
    store = paths.dataset_dir("tgif") / "vis_db"
    for name in names:
        row = rows[name]
        assert (row.format, row.vis_db, row.fingerprint) == ("tgif_qa", str(store), by_name[name].fingerprint)
        assert row.splits == by_name[name].splits
        link = paths.dataset_dir(name) / "vis_db"
        assert link.is_symlink() and link.resolve() == store.resolve()
        meta = TxtDB(row.txt_db).meta()
        assert meta["format"] == "tgif_qa" and meta["fingerprint"] == row.fingerprint
    txt = TxtDB(rows["tgif-frameqa"].txt_db)
    assert txt.read("test")[0] == {"gif_name": "tumblr_no73q2fm0I1uuf348o1_250",
                                  "question": "what is being placed in the white ice cream cone ?",
                                  "answer": "cookie", "answer_type": "object"}
    assert txt.ans2label()["two"] == 0
    db = VisDB(store)
    assert len(db) == 4 and db.get("tumblr_no73q2fm0I1uuf348o1_250").ext == "gif"
    db.close()
    assert not list(paths.datasets_dir().glob(".*.partial"))

    from clpbert.data.verify import verify_dataset

    check = verify_dataset(rows["tgif-action"].txt_db, rows["tgif-action"].vis_db, decode=True)
    assert check.n_videos == 2274 and len(check.missing) == 2272 and not check.undecodable


def test_strict_registers_nothing_and_a_rerun_resumes(clpbert_home: Path, real_data: Path, tgif_test: Path):
    videos = real_data / "videos" / "tgif"
    with pytest.raises(UserError, match=r"--strict: 9103 of 9107 videos missing"):
        prepare("tgif_qa", tgif_test, "tgif", videos=videos, strict=True)
    assert _registered() == {}
    assert not paths.dataset_dir("tgif-action").exists()
    partial = paths.datasets_dir() / ".tgif.partial" / "vis_db"
    assert (partial / "data.mdb").is_file()  # kept for the re-run

    report = prepare("tgif_qa", tgif_test, "tgif", videos=videos)
    assert report.packed["already"] == 4 and report.packed["packed"] == 0
    assert len(_registered()) == 3 and not partial.exists()


def test_tar_with_dotdot_member_is_refused_and_nothing_registered(clpbert_home: Path, real_data: Path,
                                                                   tgif_test: Path, tmp_path: Path):
    gif = (real_data / "videos" / "tgif" / "tumblr_nk172bbdPI1u1lr18o1_250.gif").read_bytes()
    archive = tmp_path / "videos.tar"
    with tarfile.open(archive, "w") as tf:
        info = tarfile.TarInfo("../tumblr_nk172bbdPI1u1lr18o1_250.gif")
        info.size = len(gif)
        tf.addfile(info, io.BytesIO(gif))
    with pytest.raises(UserError, match="refusing this archive"):
        prepare("tgif_qa", tgif_test, "tgif", videos=archive)
    assert _registered() == {}
    assert not (tmp_path.parent / "tumblr_nk172bbdPI1u1lr18o1_250.gif").exists()


def test_without_videos_only_txt_db_then_videos_are_added_later(clpbert_home: Path, real_data: Path,
                                                                tgif_test: Path):
    first = prepare("tgif_qa", tgif_test, "t")
    assert first.packed is None and first.missing_videos is None
    assert all(d.missing_videos is None for d in first.datasets)
    assert not (paths.dataset_dir("t") / "vis_db").exists()
    assert TxtDB(paths.dataset_dir("t-action") / "txt_db").splits() == ["test"]

    second = prepare("tgif_qa", tgif_test, "t", videos=real_data / "videos" / "tgif")
    assert second.missing_videos == 9103
    fp1 = {d.name: d.fingerprint for d in first.datasets}
    fp2 = {d.name: d.fingerprint for d in second.datasets}
    assert all(fp1[n] != fp2[n] for n in fp1)  # the vis_db key list is part of the fingerprint
    assert {n: r.fingerprint for n, r in _registered().items()} == fp2


def test_failure_half_way_leaves_no_registered_dataset(clpbert_home: Path, tgif_test: Path,
                                                       monkeypatch: pytest.MonkeyPatch):
    calls = []

    def boom(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full")
        return "0" * 64

    monkeypatch.setattr(prepare_mod, "fingerprint", boom)
    with pytest.raises(OSError, match="disk full"):
        prepare("tgif_qa", tgif_test, "half")
    assert _registered() == {}
    assert not any(paths.dataset_dir(f"half-{s}").exists() for s in ("action", "transition", "frameqa"))


def test_a_name_from_another_format_is_refused(clpbert_home: Path, real_data: Path):
    prepare("vg_regions", real_data / "vg" / "region_descriptions_sample.json", "shared")
    with pytest.raises(UserError, match="already exists from format vg_regions"):
        prepare("msrvtt_ret", real_data / "msrvtt_ret", "shared")
    assert _registered()["shared"].format == "vg_regions"
    meta = json.loads((paths.dataset_dir("shared") / "txt_db" / "meta.json").read_text())
    assert meta["splits"] == {"train": 262}


def test_coco_images_are_packed_by_file_stem(clpbert_home: Path, real_data: Path):
    folder = real_data / "coco_captions" / "coco_mini"
    report = prepare("coco_captions", folder, "coco", videos=folder, options={"key": "file_name"})
    (ds,) = report.datasets
    assert ds.task == "pretrain" and ds.splits == {"train": 400, "val": 395}
    # 7 of the 9 images: 000000163951 and 000000161044 have captions only in the full val2017 file
    assert report.packed["packed"] == 7 and ds.missing_videos == ds.videos - 7
    db = VisDB(ds.vis_db)
    assert db.get("000000183872").ext == "jpg"
    db.close()


def test_reencode_is_refused_with_a_frame_store_or_without_videos(clpbert_home: Path, real_data: Path,
                                                                  tgif_test: Path):
    with pytest.raises(UserError, match="--reencode and --frames-fps"):
        prepare("tgif_qa", tgif_test, "tg", videos=real_data / "videos" / "tgif", frames_fps=2, reencode=True)
    with pytest.raises(UserError, match="--reencode needs --videos"):
        prepare("tgif_qa", tgif_test, "tg", reencode=True)
    assert not _registered()
