"""COCO `captions_{train,val}{2014,2017}.json` (a folder or one file) -> caption data for pretraining.

Decisions:
* Split from the file name: captions_train*.json -> `train`, captions_val*.json -> `val`.
* One line per caption, in annotation order: {"caption": whitespace-normalized caption,
  "coco_id": key}. The release has newlines, tabs and leading/trailing spaces inside captions.
* Key (`--opt key=...`): `id12` (default) = "%012d" % image_id, the stem of the 2017 image files
  (000000397133.jpg); `file_name` = the stem of the image record's file_name, which is what a
  vis_db packed from the 2014 files holds (COCO_val2014_000000397133). Use `file_name` for 2014.
* Top-level keys other than images/annotations (info, licenses, the extra "type") are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from clpbert.data.convert.base import Conversion, Part, Record, choice_option, normalize_ws, read_json
from clpbert.data.convert.keys import media_key
from clpbert.errors import UserError

_FILE_RE = re.compile(r"^captions_(train|val)(\d{4})?\.json$", re.IGNORECASE)


def _files(path: Path) -> list[tuple[str, Path]]:
    candidates = sorted(path.iterdir()) if path.is_dir() else [path]
    found: dict[str, Path] = {}
    for p in candidates:
        m = _FILE_RE.match(p.name)
        if not (m and p.is_file()):
            continue
        split = m.group(1).lower()
        if split in found:
            raise UserError(f"two COCO {split} caption files in {path} ({found[split].name}, {p.name}); "
                            "prepare them as separate datasets")
        found[split] = p
    if not found:
        if not path.is_dir():
            raise UserError(f"cannot tell the split of {path.name}; COCO files are named "
                            "captions_train2017.json / captions_val2017.json")
        raise UserError(f"no COCO caption files (captions_train*.json, captions_val*.json) in {path}")
    return list(found.items())


def captions(path: Path, key: str) -> list[Record]:
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("annotations"), list):
        raise UserError(f"{path}: expected a COCO captions file with an annotations list")
    stems: dict[int, str] = {}
    if key == "file_name":
        stems = {int(img["id"]): media_key(str(img["file_name"])) for img in data.get("images") or []}
    out = []
    for i, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict) or "caption" not in ann or "image_id" not in ann:
            raise UserError(f"{path} annotation {i}: expected an object with image_id and caption")
        image_id = int(ann["image_id"])
        if key == "file_name":
            if image_id not in stems:
                raise UserError(f"{path} annotation {i}: image {image_id} has no image record; "
                                "use --opt key=id12")
            coco_id = stems[image_id]
        else:
            coco_id = f"{image_id:012d}"
        out.append({"caption": normalize_ws(ann["caption"]), "coco_id": coco_id})
    return out


def convert(path: Path, options: Mapping[str, str]) -> Conversion:
    key = choice_option(options, "key", ("id12", "file_name"))
    files = _files(path)
    splits = {split: captions(file, key) for split, file in files}
    meta = {"coco_id": "'%012d' % image_id" if key == "id12" else "image file_name stem",
            "caption": "whitespace-normalized; one line per caption"}
    part = Part(suffix="", task="pretrain", key_field="coco_id", splits=splits, meta=meta)
    return Conversion(format="coco_captions", parts=[part], sources=[str(f) for _, f in files])
