"""Visual Genome region converter on the real sample (clpbert/data/convert/vg_regions.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from clpbert.data.convert.base import convert

pytestmark = pytest.mark.real


def test_one_stripped_phrase_per_region(real_data: Path):
    (part,) = convert("vg_regions", real_data / "vg" / "region_descriptions_sample.json").parts
    train = part.splits["train"]
    assert len(train) == 262
    assert train[0] == {"caption": "the clock is green in colour", "vg_id": "1"}
    assert {"caption": "shade is along the street", "vg_id": "1"} in train
    assert all(r["caption"] == r["caption"].strip() for r in train)


def test_split_option(real_data: Path):
    sample = real_data / "vg" / "region_descriptions_sample.json"
    (part,) = convert("vg_regions", sample, {"split": "val"}).parts
    assert list(part.splits) == ["val"]
