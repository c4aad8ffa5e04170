"""ActivityNet Captions (`train.json`, `val_1.json`, `val_2.json`, `*_ids.json`) -> task anet_ret.

Each caption file is {video_id: {"duration", "timestamps": [[s, e], ...], "sentences": [...]}}.

Decisions:
* Splits: val_1.json -> `test` (ClipBERT reports ANet on val_1; the public test set has no
  captions), val_2.json -> `test2` (a second annotation of val_1's videos, never used for
  selection), train.json -> `train` and `val`: the release has no other validation split (the
  original validated on val_1, its reported set), so 10% of the train videos are held out as `val`
  for model selection (base.hold_out_val: seeded, by video, none of val_1's videos). The test split
  is evaluated once, on the checkpoint chosen on val.
* One line per video, in file order: {"caption": paragraph, "clip_name": video id}.
* paragraph = sentences sorted by (start, end, position), each whitespace-normalized (about two
  thirds start with spaces in the release), joined with single spaces.
* clip_name keeps the `v_` prefix: the official video downloads are named v_<youtube id>.mp4.
* `{train,val,test}_ids.json` are only compared with the captions; ids with no captions are
  counted in meta.json (val_ids has 4,926 ids, val_1 4,917 videos; test has no public captions).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from clpbert.data.convert.base import (
    Conversion,
    Part,
    Record,
    hold_out_val,
    normalize_ws,
    pick_files,
    read_json,
)
from clpbert.errors import UserError

FILES = {"train.json": "train", "val_1.json": "test", "val_2.json": "test2"}
IDS_FOR = {"train": "train_ids.json", "test": "val_ids.json", "test2": "val_ids.json"}


def _start_end(ts: object, where: str) -> tuple[float, float]:
    try:
        start, end = ts  # type: ignore[misc]
        return float(start), float(end)
    except (TypeError, ValueError):
        raise UserError(f"{where}: timestamp {ts!r} is not [start, end]") from None


def paragraphs(path: Path) -> list[Record]:
    data = read_json(path)
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected {{video_id: {{timestamps, sentences}}}} (ActivityNet Captions)")
    out = []
    for vid, item in data.items():
        where = f"{path} video {vid}"
        if not isinstance(item, dict) or not isinstance(item.get("sentences"), list):
            raise UserError(f"{where}: expected an object with sentences and timestamps")
        sentences = item["sentences"]
        stamps = item.get("timestamps") or []
        if len(stamps) != len(sentences):
            raise UserError(f"{where}: {len(sentences)} sentences but {len(stamps)} timestamps")
        order = sorted(range(len(sentences)), key=lambda i: (*_start_end(stamps[i], where), i))
        text = " ".join(t for t in (normalize_ws(sentences[i]) for i in order) if t)
        out.append({"caption": text, "clip_name": str(vid)})
    return out


def convert(path: Path, options: Mapping[str, str]) -> Conversion:
    files = pick_files(path, FILES, "ActivityNet Captions")
    splits = {split: paragraphs(file) for split, file in files}
    folder = path if path.is_dir() else path.parent
    uncaptioned: dict[str, int] = {}
    for split, records in splits.items():
        ids_path = folder / IDS_FOR[split]
        if ids_path.is_file():
            ids = read_json(ids_path)
            have = {r["clip_name"] for r in records}
            uncaptioned[split] = sum(1 for v in ids if v not in have) if isinstance(ids, list) else 0
    meta: dict[str, object] = {
        "caption": "sentences stripped, sorted by timestamp, joined with single spaces; one per video",
        "clip_name": "ActivityNet video id with its v_ prefix",
        "split_source": {s: f.name for s, f in files}, "ids_without_captions": uncaptioned}
    notes = []
    if "train" in splits:
        tested = [r["clip_name"] for s in ("test", "test2") for r in splits.get(s, [])]
        held = hold_out_val(splits.pop("train"), "clip_name", exclude=tested)
        splits = {"train": held.train, **({"val": held.val} if held.val else {}), **splits}
        meta["val"] = held.describe("train.json", "val_1.json" if "test" in splits else None)
        notes.append(meta["val"])
    else:
        notes.append("no train.json, so no train or val split (val is held out from the train videos; "
                     "model selection never runs on val_1, the reported test set)")
    part = Part(suffix="", task="anet_ret", key_field="clip_name", splits=splits, meta=meta)
    return Conversion(format="anet_captions", parts=[part], notes=notes, sources=[str(f) for _, f in files])
