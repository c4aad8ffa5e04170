"""MSRVTT retrieval: caption json and/or the JSFusion split csvs (+ optional multiple choice) -> datasets.

Inputs (a folder holding any of them, or one of the files):
* `train_val_videodatainfo.json` (or `videodatainfo_2017.json` / CLIP4Clip's `MSRVTT_data.json`):
  {"videos": [...], "sentences": [{"caption", "video_id", "sen_id"}]}; other top-level keys ignored.
* `MSRVTT_train.7k.csv` / `MSRVTT_train.9k.csv`: one `video_id` column.
* `MSRVTT_JSFUSION_test.csv`: `key,vid_key,video_id,sentence`, one caption per 1k-A video.
* a multiple-choice file (name containing `mc` or `multiple_choice`; .csv/.tsv/.json/.jsonl).

Decisions:
* NAME (task msrvtt_ret): `train` = every sentence of the 7k-train videos (`--opt train_videos=9k`
  for 9k), as {"caption", "clip_name", "sen_id"}; needs the caption json. Without a train csv the
  json's own split field selects them (split train+validate = the 7,010 videos). Without the json
  only val/test are written and a note says train is missing.
* `test` = the 1k-A list, {"caption", "clip_name", "retrieval_key"} (one caption per video, as
  retrieval eval needs). It is evaluated once, on the checkpoint chosen on `val`.
* `val` (model selection) = 1,000 videos of the 9k list that the 7k list leaves out (in the 9k
  csv's order, none of them in 1k-A), each with its first caption of the json: disjoint from train
  and test, as the original's separate 1k val. ClipBERT's own val file is not distributed. Without
  both csvs and the caption json no val is written, and a note says so: val is never the test set.
* NAME-mc (task msrvtt_mc): split `test` with {"qid", "clip_name", "answer", "options"}, sharing
  NAME's vis_db. The JSFusion MC csv was not available to check; its columns are found by name
  (video_id|clip_name|vid_key, a1..a5|option_0..4, answer, qid|key).
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Mapping
from pathlib import Path

from clpbert.data.convert.base import Conversion, Part, Record, choice_option, normalize_ws, read_json
from clpbert.errors import UserError

INFO_NAMES = ("train_val_videodatainfo.json", "videodatainfo_2017.json", "msrvtt_data.json")
TEST_NAME = "msrvtt_jsfusion_test.csv"
TRAIN_LIST_NAMES = {"7k": "msrvtt_train.7k.csv", "9k": "msrvtt_train.9k.csv"}
_MC_RE = re.compile(r"(^|[_\-.])(mc|multiple_choice)([_\-.]|$)", re.IGNORECASE)
_MC_EXTS = (".csv", ".tsv", ".json", ".jsonl")


def _classify(path: Path) -> str | None:
    """Which input a file is: info, test, train7k/train9k, mc, or None (not ours)."""
    name = path.name.lower()
    if name in INFO_NAMES:
        return "info"
    if name == TEST_NAME:
        return "test"
    for size, list_name in TRAIN_LIST_NAMES.items():
        if name == list_name:
            return f"train{size}"
    if name.endswith(_MC_EXTS) and _MC_RE.search(path.stem):
        return "mc"
    return None


def _inputs(path: Path) -> dict[str, Path]:
    files = sorted(path.iterdir()) if path.is_dir() else [path]
    found: dict[str, Path] = {}
    for p in files:
        kind = _classify(p)
        if kind and p.is_file():
            found.setdefault(kind, p)
    if not path.is_dir() and not found and path.suffix.lower() == ".json":
        found["info"] = path  # a single json of the videodatainfo layout under another name
    if not found:
        raise UserError(f"no MSRVTT retrieval files in {path}; expected train_val_videodatainfo.json, "
                        "MSRVTT_train.7k.csv, MSRVTT_JSFUSION_test.csv or an MC file")
    return found


def _csv_rows(path: Path) -> list[dict[str, str]]:
    """Rows of a csv/tsv as {header: stripped cell}; the separator is TAB when the header has one."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        first = f.readline()
        f.seek(0)
        reader = csv.DictReader(f, delimiter="\t" if "\t" in first else ",")
        rows = []
        for row in reader:
            rows.append({(k or "").strip(): (v or "").strip() for k, v in row.items()
                         if not isinstance(v, list)})
        return rows


def _need(rows: list[dict[str, str]], path: Path, columns: tuple[str, ...]) -> None:
    have = set(rows[0]) if rows else set()
    missing = [c for c in columns if c not in have]
    if rows and missing:
        raise UserError(f"{path} lacks column(s) {', '.join(missing)} (has {', '.join(sorted(have))})")


def _video_list(path: Path) -> set[str]:
    return set(_video_order(path))


def _video_order(path: Path) -> list[str]:
    rows = _csv_rows(path)
    _need(rows, path, ("video_id",))
    return [r["video_id"] for r in rows]


VAL_SIZE = 1000


def _val_records(info_path: Path, nine_k: Path, seven_k: Path, test: list[Record]) -> list[Record]:
    """The first caption of each of the first VAL_SIZE videos in 9k - 7k - 1k-A (csv order)."""
    held_out = _video_list(seven_k) | {r["clip_name"] for r in test}
    candidates = [v for v in dict.fromkeys(_video_order(nine_k)) if v not in held_out]
    first: dict[str, str] = {}
    wanted = set(candidates)
    for s in read_json(info_path).get("sentences") or []:
        if isinstance(s, dict) and s.get("video_id") in wanted and s["video_id"] not in first:
            first[s["video_id"]] = normalize_ws(str(s.get("caption", "")))
    chosen = [v for v in candidates if v in first][:VAL_SIZE]
    return [{"caption": first[v], "clip_name": v} for v in chosen]


def _test_records(path: Path) -> list[Record]:
    rows = _csv_rows(path)
    _need(rows, path, ("key", "video_id", "sentence"))
    return [{"caption": normalize_ws(r["sentence"]), "clip_name": r["video_id"], "retrieval_key": r["key"]}
            for r in rows]


def _train_records(info_path: Path, train_videos: set[str] | None) -> tuple[list[Record], str]:
    data = read_json(info_path)
    if not isinstance(data, dict) or not isinstance(data.get("sentences"), list):
        raise UserError(f"{info_path}: expected an MSRVTT videodatainfo object with a sentences list")
    how = "train csv"
    if train_videos is None:
        videos = data.get("videos") or []
        train_videos = {v["video_id"] for v in videos if v.get("split") in ("train", "validate")}
        how = "videodatainfo split train+validate"
    out = []
    for i, s in enumerate(data["sentences"]):
        if not isinstance(s, dict) or "caption" not in s or "video_id" not in s:
            raise UserError(f"{info_path}: sentence {i} lacks caption/video_id")
        if s["video_id"] in train_videos:
            out.append({"caption": normalize_ws(s["caption"]), "clip_name": s["video_id"],
                        "sen_id": int(s.get("sen_id", i))})
    return out, how


def _mc_clip(row: Mapping[str, object], where: str) -> str:
    for col in ("clip_name", "video_id", "vid_key"):
        value = str(row.get(col) or "").strip()
        if value:
            m = re.fullmatch(r"msr(\d+)", value)
            return f"video{m.group(1)}" if m else value
    raise UserError(f"{where}: no clip_name/video_id/vid_key")


def _mc_options(row: Mapping[str, object], where: str) -> list[str]:
    if isinstance(row.get("options"), list):
        return [normalize_ws(str(o)) for o in row["options"]]  # type: ignore[union-attr]
    for pattern in ("a{}", "option_{}", "option{}"):
        start = 1 if pattern == "a{}" else 0
        cols = [pattern.format(i) for i in range(start, start + 5)]
        if all(c in row for c in cols):
            return [normalize_ws(str(row[c])) for c in cols]
    raise UserError(f"{where}: no options (expected a1..a5, option_0..option_4 or an options list)")


def _mc_records(path: Path) -> list[Record]:
    if path.suffix.lower() in (".json", ".jsonl"):
        if path.suffix.lower() == ".json":
            rows = read_json(path)
        else:
            lines = path.read_text(encoding="utf-8").splitlines()
            rows = [json.loads(line) for line in lines if line.strip()]
        if not isinstance(rows, list):
            raise UserError(f"{path}: expected a list of multiple-choice questions")
    else:
        rows = _csv_rows(path)
    out = []
    for i, row in enumerate(rows):
        where = f"{path} row {i + 1}"
        options = _mc_options(row, where)
        try:
            answer = int(row["answer"])
        except (KeyError, ValueError, TypeError):
            raise UserError(f"{where}: answer must be the index of the correct option") from None
        if not 0 <= answer < len(options):
            raise UserError(f"{where}: answer {answer} is outside 0..{len(options) - 1}")
        qid = row.get("qid", row.get("key", i))
        out.append({"qid": qid if isinstance(qid, int) else str(qid), "clip_name": _mc_clip(row, where),
                    "answer": answer, "options": options})
    return out


def convert(path: Path, options: Mapping[str, str]) -> Conversion:
    train_size = choice_option(options, "train_videos", ("7k", "9k"))
    found = _inputs(path)
    notes: list[str] = []
    splits: dict[str, list[Record]] = {}
    meta: dict[str, object] = {}
    if "info" in found:
        list_path = found.get(f"train{train_size}")
        train_videos = _video_list(list_path) if list_path else None
        splits["train"], how = _train_records(found["info"], train_videos)
        meta["train"] = f"sentences of the {train_size} train videos ({how})"
    elif any(k in found for k in ("test", "mc")):
        notes.append("train split not written: it needs train_val_videodatainfo.json (the MSRVTT captions); "
                     "re-run with a folder holding it and MSRVTT_train.7k.csv")
    test = _test_records(found["test"]) if "test" in found else []
    if test:
        splits["test"] = test
        meta["test"] = "JSFusion 1k-A (MSRVTT_JSFUSION_test.csv), one caption per video"
    if train_size == "7k" and all(k in found for k in ("info", "train9k", "train7k")):
        splits["val"] = _val_records(found["info"], found["train9k"], found["train7k"], test)
        meta["val"] = (f"{len(splits['val'])} videos of MSRVTT_train.9k.csv that MSRVTT_train.7k.csv leaves "
                       "out (not in 1k-A), first caption each: model selection, disjoint from train and test")
        notes.append(f"val: {meta['val']}; test (1k-A) is evaluated once, on the checkpoint chosen on val")
    if "val" not in splits and (test or "info" in found):
        notes.append("val split not written: MSRVTT releases none, and it is cut from the 9k list minus the "
                     "7k list with the captions; add MSRVTT_train.9k.csv, MSRVTT_train.7k.csv and "
                     "train_val_videodatainfo.json (model selection never runs on test)")
    parts = []
    if splits:
        parts.append(Part(suffix="", task="msrvtt_ret", key_field="clip_name", splits=splits, meta=meta))
    if "mc" in found:
        parts.append(Part(suffix="mc", task="msrvtt_mc", key_field="clip_name",
                          splits={"test": _mc_records(found["mc"])},
                          meta={"test": f"multiple choice from {found['mc'].name}"}))
    if not parts:
        raise UserError(f"{path}: only train video lists found; add train_val_videodatainfo.json (captions) "
                        "and/or MSRVTT_JSFUSION_test.csv")
    return Conversion(format="msrvtt_ret", parts=parts, notes=notes,
                      sources=[str(p) for p in found.values()])
