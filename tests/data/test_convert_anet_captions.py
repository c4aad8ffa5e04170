"""ActivityNet Captions converter on the real val_1/val_2 files (clpbert/data/convert/anet_captions.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clpbert.data.convert.base import convert

pytestmark = pytest.mark.real


@pytest.fixture(scope="module")
def anet(real_data: Path):
    (part,) = convert("anet_captions", real_data / "activitynet_captions").parts
    return part


def test_val_1_is_the_test_split_one_paragraph_per_video(anet):
    assert anet.task == "anet_ret"
    # the real folder has no train.json: no train, and no val (never val_1, the reported set)
    assert {s: len(r) for s, r in anet.splits.items()} == {"test": 4917, "test2": 4885}
    assert len({r["clip_name"] for r in anet.splits["test"]}) == 4917
    assert anet.meta["ids_without_captions"]["test"] == 4926 - 4917


def test_val_is_a_seeded_tenth_of_the_train_videos_disjoint_from_val_1(real_data: Path, tmp_path: Path):
    """train.json (not in the real folder) in the official schema, over the real train_ids.json."""
    real = real_data / "activitynet_captions"
    for name in ("val_1.json", "val_2.json", "train_ids.json", "val_ids.json"):
        (tmp_path / name).write_bytes((real / name).read_bytes())
    train_ids = json.loads((real / "train_ids.json").read_text())
    (tmp_path / "train.json").write_text(json.dumps(
        {v: {"duration": 10.0, "timestamps": [[0, 5]], "sentences": [f" what happens in {v}."]}
         for v in train_ids}))
    conv = convert("anet_captions", tmp_path)
    (part,) = conv.parts
    videos = {s: {r["clip_name"] for r in recs} for s, recs in part.splits.items()}
    assert {s: len(v) for s, v in videos.items()} == {"train": 9022, "val": 1002, "test": 4917, "test2": 4885}
    assert len(videos["val"]) == round(0.1 * len(train_ids)) == 1002
    assert videos["train"] | videos["val"] == set(train_ids)
    assert not videos["val"] & videos["train"]
    assert not (videos["val"] | videos["train"]) & (videos["test"] | videos["test2"])
    assert conv.notes == ["val: 10% of train.json videos held out (1,002 videos, seeded by video id); test = "
                          "val_1.json, evaluated once on the checkpoint chosen on val"]
    again = convert("anet_captions", tmp_path).parts[0]
    assert again.splits["val"] == part.splits["val"]


def test_sentences_are_stripped_and_joined_in_timestamp_order(anet):
    first = anet.splits["test"][0]
    assert first == {"caption": "A weight lifting tutorial is given. The coach helps the guy in red with the "
                                "proper body placement and lifting technique.", "clip_name": "v_uqiMw7tQ1Cc"}
    for rec in anet.splits["test"]:
        assert rec["caption"] == rec["caption"].strip() and "  " not in rec["caption"]


def test_out_of_order_timestamps_are_sorted(tmp_path: Path):
    data = {"v_x": {"duration": 10, "timestamps": [[5, 9], [0, 4.5]], "sentences": ["  second.", " first."]}}
    (tmp_path / "val_1.json").write_text(json.dumps(data))
    (part,) = convert("anet_captions", tmp_path / "val_1.json").parts
    assert part.splits == {"test": [{"caption": "first. second.", "clip_name": "v_x"}]}
