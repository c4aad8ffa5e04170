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


def test_val_1_is_the_dev_split_one_paragraph_per_video(anet):
    assert anet.task == "anet_ret"
    assert {s: len(r) for s, r in anet.splits.items()} == {"dev": 4917, "dev2": 4885}
    assert len({r["clip_name"] for r in anet.splits["dev"]}) == 4917
    assert anet.meta["ids_without_captions"]["dev"] == 4926 - 4917


def test_sentences_are_stripped_and_joined_in_timestamp_order(anet):
    first = anet.splits["dev"][0]
    assert first == {"caption": "A weight lifting tutorial is given. The coach helps the guy in red with the "
                                "proper body placement and lifting technique.", "clip_name": "v_uqiMw7tQ1Cc"}
    for rec in anet.splits["dev"]:
        assert rec["caption"] == rec["caption"].strip() and "  " not in rec["caption"]


def test_out_of_order_timestamps_are_sorted(tmp_path: Path):
    data = {"v_x": {"duration": 10, "timestamps": [[5, 9], [0, 4.5]], "sentences": ["  second.", " first."]}}
    (tmp_path / "val_1.json").write_text(json.dumps(data))
    (part,) = convert("anet_captions", tmp_path / "val_1.json").parts
    assert part.splits == {"dev": [{"caption": "first. second.", "clip_name": "v_x"}]}
