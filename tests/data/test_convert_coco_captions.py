"""COCO captions converter on the real val2017 file (clpbert/data/convert/coco_captions.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from clpbert.data.convert.base import convert

pytestmark = pytest.mark.real


def test_val2017_one_line_per_caption_whitespace_normalized(real_data: Path):
    (part,) = convert("coco_captions", real_data / "coco_captions" / "captions_val2017.json").parts
    val = part.splits["val"]
    assert part.task == "pretrain" and part.key_field == "coco_id"
    assert len(val) == 25014 and len({r["coco_id"] for r in val}) == 5000
    assert val[0] == {"caption": "A black Honda motorcycle parked in front of a garage.",
                      "coco_id": "000000179765"}
    for rec in val:
        assert set(rec) == {"caption", "coco_id"}  # the extra top-level "type" key is ignored
        assert "\n" not in rec["caption"] and rec["caption"] == " ".join(rec["caption"].split())


def test_file_name_keys_match_the_image_files(real_data: Path):
    folder = real_data / "coco_captions" / "coco_mini"
    (part,) = convert("coco_captions", folder, {"key": "file_name"}).parts
    assert {s: len(r) for s, r in part.splits.items()} == {"train": 400, "val": 395}
    images = {p.stem for p in (folder / "train2017").glob("*.jpg")}
    assert images <= {r["coco_id"] for r in part.splits["train"]}
