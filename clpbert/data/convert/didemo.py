"""DiDeMo `{train,val,test}_data.json` -> paragraph-to-video retrieval dataset (task didemo_ret).

Each file is a JSON list of descriptions {"annotation_id", "description", "video", "times", ...}.

Decisions:
* One line per video (retrieval eval needs exactly one caption per video), in the order videos
  first appear in the file: {"caption": paragraph, "clip_name": key}.
* paragraph = the video's descriptions sorted by `annotation_id`, each whitespace-normalized,
  joined with single spaces (ClipBERT's own order is not in its released code).
* clip_name = the `video` file name as shipped, extension included (key style `name`, see
  keys.py): stems are not unique in DiDeMo (val has 29 videos under two names, `x.avi` and
  `x.mp4`, annotated separately), and file stems would turn 1,094 val videos into 1,065. Names
  with a bare trailing dot keep it (`..._17dce1d555.`). The packer uses the same key function,
  falling back to a file with the same stem when the exact name is absent (transcoded videos).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from clpbert.data.convert.base import Conversion, Part, Record, normalize_ws, pick_files, read_json
from clpbert.data.convert.keys import media_key
from clpbert.errors import UserError

FILES = {"train_data.json": "train", "val_data.json": "val", "test_data.json": "test"}
KEY_STYLE = "name"


def paragraphs(path: Path) -> list[Record]:
    data = read_json(path)
    if not isinstance(data, list):
        raise UserError(f"{path}: expected a JSON list of DiDeMo descriptions")
    by_video: dict[str, list[tuple[int, str]]] = {}
    for i, item in enumerate(data):
        if not isinstance(item, dict) or "video" not in item or "description" not in item:
            raise UserError(f"{path} item {i}: expected an object with video and description")
        key = media_key(str(item["video"]), KEY_STYLE)
        order = int(item.get("annotation_id", i))
        by_video.setdefault(key, []).append((order, normalize_ws(item["description"])))
    return [{"caption": " ".join(text for _, text in sorted(items) if text), "clip_name": key}
            for key, items in by_video.items()]


def convert(path: Path, options: Mapping[str, str]) -> Conversion:
    files = pick_files(path, FILES, "DiDeMo")
    splits = {split: paragraphs(file) for split, file in files}
    meta = {"caption": "descriptions sorted by annotation_id, joined with single spaces; one line per video",
            "clip_name": "video file name as shipped, extension included ('x.' keeps its dot)"}
    part = Part(suffix="", task="didemo_ret", key_field="clip_name", splits=splits, meta=meta)
    return Conversion(format="didemo", parts=[part], sources=[str(f) for _, f in files], key_style=KEY_STYLE)
