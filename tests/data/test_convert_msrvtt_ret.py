"""MSRVTT retrieval converter on the real JSFusion csvs (clpbert/data/convert/msrvtt_ret.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from clpbert.data.convert.base import convert


@pytest.mark.real
def test_csv_only_folder_writes_1k_a_and_reports_missing_train(real_data: Path):
    conv = convert("msrvtt_ret", real_data / "msrvtt_ret")
    (part,) = conv.parts
    assert part.task == "msrvtt_ret"
    assert set(part.splits) == {"test"}  # no val: model selection never runs on the test set
    test = part.splits["test"]
    assert len(test) == 1000 and len({r["clip_name"] for r in test}) == 1000
    assert test[0] == {"caption": "a person is connecting something to system", "clip_name": "video9770",
                       "retrieval_key": "ret0"}
    assert any("val split not written" in n and "MSRVTT_train.9k.csv" in n for n in conv.notes)
    assert any("train split not written" in n and "train_val_videodatainfo.json" in n for n in conv.notes)


@pytest.mark.real
def test_train_is_the_7k_videos_sentences_from_the_caption_json(real_data: Path, tmp_path: Path):
    for name in ("MSRVTT_train.7k.csv", "MSRVTT_JSFUSION_test.csv"):
        shutil.copy(real_data / "msrvtt_ret" / name, tmp_path / name)
    # the official schema (first records as quoted in the real README), plus a 1k-A test video
    info = {"info": {}, "videos": [{"video_id": "video0", "split": "train", "start time": 1.0},
                                   {"video_id": "video9770", "split": "test"}],
            "sentences": [{"caption": "a cartoon animals runs through an ice cave in a video game",
                           "video_id": "video2960", "sen_id": 0},
                          {"caption": "a  man\nsings", "video_id": "video0", "sen_id": 1},
                          {"caption": "not train", "video_id": "video9770", "sen_id": 2}]}
    (tmp_path / "train_val_videodatainfo.json").write_text(json.dumps(info))
    conv = convert("msrvtt_ret", tmp_path)
    (part,) = conv.parts
    assert part.splits["train"] == [
        {"caption": "a cartoon animals runs through an ice cave in a video game", "clip_name": "video2960",
         "sen_id": 0},
        {"caption": "a man sings", "clip_name": "video0", "sen_id": 1}]
    assert len(part.splits["test"]) == 1000 and "val" not in part.splits
    assert [n for n in conv.notes if "val split not written" in n]  # the 9k list is needed for val


@pytest.mark.real
def test_val_is_cut_from_9k_minus_7k_disjoint_from_train_and_test(real_data: Path, tmp_path: Path):
    for name in ("MSRVTT_train.7k.csv", "MSRVTT_train.9k.csv", "MSRVTT_JSFUSION_test.csv"):
        shutil.copy(real_data / "msrvtt_ret" / name, tmp_path / name)
    def read(size: str) -> list[str]:
        return (real_data / "msrvtt_ret" / f"MSRVTT_train.{size}.csv").read_text().split()[1:]

    seven, nine = read("7k"), read("9k")
    leftover = [v for v in nine if v not in set(seven)]
    assert len(leftover) == 1990
    # the official schema: two captions for every video of the 9k list
    sentences = [{"caption": f"clip {v} take {j}", "video_id": v, "sen_id": 2 * i + j}
                 for i, v in enumerate(nine) for j in range(2)]
    (tmp_path / "train_val_videodatainfo.json").write_text(json.dumps({"videos": [], "sentences": sentences}))
    conv = convert("msrvtt_ret", tmp_path)
    (part,) = conv.parts
    val, test, train = part.splits["val"], part.splits["test"], part.splits["train"]
    val_ids = [r["clip_name"] for r in val]
    assert val_ids == leftover[:1000] and len(set(val_ids)) == 1000
    assert all(r["caption"] == f"clip {r['clip_name']} take 0" for r in val)  # one caption per video
    assert not set(val_ids) & {r["clip_name"] for r in train}
    assert not set(val_ids) & {r["clip_name"] for r in test}
    assert len({r["clip_name"] for r in train}) == 7010
    assert any(n.startswith("val: 1000 videos of MSRVTT_train.9k.csv") for n in conv.notes)


def test_multiple_choice_file_becomes_the_mc_dataset(tmp_path: Path):
    (tmp_path / "MSRVTT_JSFUSION_test.csv").write_text(
        "key,vid_key,video_id,sentence\nret0,msr7,video7,a cat\n")
    (tmp_path / "msrvtt_mc_test.csv").write_text(
        "key\tvid_key\ta1\ta2\ta3\ta4\ta5\tanswer\nmc0\tmsr7\tx\ty\ta cat\tz\tw\t2\n")
    conv = convert("msrvtt_ret", tmp_path)
    assert [p.suffix for p in conv.parts] == ["", "mc"]
    mc = conv.parts[1]
    assert mc.task == "msrvtt_mc"
    assert mc.splits == {"test": [{"qid": "mc0", "clip_name": "video7", "answer": 2,
                                   "options": ["x", "y", "a cat", "z", "w"]}]}
