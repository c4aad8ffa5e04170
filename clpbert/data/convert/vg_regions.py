"""Visual Genome `region_descriptions.json` -> caption data for pretraining.

The file is a JSON list of {"id": image_id, "regions": [{"phrase", "image_id", ...}]}.

Decisions:
* One line per region phrase, in file order: {"caption": whitespace-normalized phrase,
  "vg_id": str(image id)} (the image file stem, e.g. 1.jpg -> "1"); boxes are dropped, ClipBERT
  uses whole images. Phrases that are empty after stripping are skipped and counted in meta.json.
* VG ships no split (ClipBERT's excludes COCO val/test images and is not released): every record
  goes to `--opt split=NAME` (default `train`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from clpbert.data.convert.base import Conversion, Part, Record, normalize_ws, read_json
from clpbert.errors import UserError


def phrases(path: Path) -> tuple[list[Record], int]:
    """(records, number of empty phrases skipped)."""
    data = read_json(path)
    if not isinstance(data, list):
        raise UserError(f"{path}: expected a JSON list of images with regions (region_descriptions.json)")
    out: list[Record] = []
    empty = 0
    for i, image in enumerate(data):
        if not isinstance(image, dict) or not isinstance(image.get("regions"), list):
            raise UserError(f"{path} item {i}: expected an object with a regions list")
        image_id = image.get("id", image.get("image_id"))
        for region in image["regions"]:
            rid = region.get("image_id", image_id) if image_id is None else image_id
            if rid is None:
                raise UserError(f"{path} item {i}: no image id")
            text = normalize_ws(region.get("phrase", ""))
            if not text:
                empty += 1
                continue
            out.append({"caption": text, "vg_id": str(rid)})
    return out, empty


def convert(path: Path, options: Mapping[str, str]) -> Conversion:
    split = options.get("split", "train")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", split):
        raise UserError(f"--opt split={split!r}: use letters, digits, '_' or '-'")
    if path.is_dir():
        path = path / "region_descriptions.json"
        if not path.is_file():
            raise UserError(f"no region_descriptions.json in {path.parent}; pass the file itself")
    records, empty = phrases(path)
    meta = {"vg_id": "str(image id)", "caption": "region phrase, whitespace-normalized",
            "empty_phrases_skipped": empty}
    part = Part(suffix="", task="pretrain", key_field="vg_id", splits={split: records}, meta=meta)
    return Conversion(format="vg_regions", parts=[part], sources=[str(path)])
