"""DiDeMo converter on the real val/test files (clpbert/data/convert/didemo.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clpbert.data.convert.base import convert
from clpbert.data.convert.keys import media_key

pytestmark = pytest.mark.real


@pytest.fixture(scope="module")
def didemo(real_data: Path):
    (part,) = convert("didemo", real_data / "didemo").parts
    return part


def test_one_paragraph_per_video(didemo, real_data: Path):
    assert didemo.task == "didemo_ret"
    assert {s: len(r) for s, r in didemo.splits.items()} == {"val": 1094, "test": 1037}
    for records in didemo.splits.values():
        assert len({r["clip_name"] for r in records}) == len(records)
    raw = json.loads((real_data / "didemo" / "val_data.json").read_text())
    assert sum(len(r["caption"]) for r in didemo.splits["val"]) > 0
    assert len(raw) == 4180


def test_paragraph_joins_descriptions_by_annotation_id(didemo, real_data: Path):
    raw = json.loads((real_data / "didemo" / "val_data.json").read_text())
    video = "35034348999@N01_6060447507_dc1a90b8ef.mov"
    items = sorted((r for r in raw if r["video"] == video), key=lambda r: r["annotation_id"])
    rec = next(r for r in didemo.splits["val"] if r["clip_name"] == video)
    assert rec["caption"] == " ".join(" ".join(r["description"].split()) for r in items)
    assert "the man in the hat briefly bends over the machine" in rec["caption"]


def test_names_ending_in_a_dot_keep_it_and_match_the_packer_key(didemo):
    dotted = [r["clip_name"] for r in didemo.splits["val"] if r["clip_name"].endswith(".")]
    assert len(dotted) == 14
    assert "28894533@N02_8154842288_17dce1d555." in dotted
    # the packer computes keys with the same function and style
    name = "28894533@N02_8154842288_17dce1d555."
    assert media_key(f"videos/{name}", "name") == name


def test_same_stem_under_two_names_stays_two_videos(didemo):
    names = {r["clip_name"] for r in didemo.splits["val"]}
    assert {"10175347@N00_4841555141_4eeb6a515a.avi", "10175347@N00_4841555141_4eeb6a515a.mp4"} <= names
