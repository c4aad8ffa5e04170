"""The vis_db key of a media file, shared by the annotation converters and the video packer.

Two key styles, chosen per format (`Conversion.key_style`) and used by both sides, so the txt_db id
and the LMDB key always agree:

* `stem` (every format but DiDeMo): the file stem exactly as the original `file2lmdb.py` computed
  it, `os.path.splitext(basename)[0]` (`video12.mp4` -> `video12`), so LMDBs built by the original
  scripts and by us agree.
* `name` (DiDeMo): the file name as the annotations ship it, extension included
  (`..._dc1a90b8ef.mov`, and `..._17dce1d555.` keeps its bare trailing dot). DiDeMo stems are not
  unique: 29 val and more test videos appear under two names (`x.avi` and `x.mp4`, the same Flickr
  video annotated twice), so stems would merge 1,094 val videos into 1,065. When packing, a `name`
  key with no file of exactly that name takes the one file with the same stem (`x.avi` wanted,
  `x.mp4` on disk, e.g. after transcoding) -- for the doubled names that is the same video anyway.
"""

from __future__ import annotations

import os

VIDEO_EXTS = frozenset({
    "mp4", "m4v", "webm", "avi", "mov", "mkv", "mpg", "mpeg", "wmv", "flv", "3gp", "3g2", "ogv", "ts",
    "mts", "m2ts", "vob", "asf", "divx", "gif",
})
IMAGE_EXTS = frozenset({"jpg", "jpeg", "png", "bmp", "webp", "tif", "tiff"})
MEDIA_EXTS = VIDEO_EXTS | IMAGE_EXTS


KEY_STYLES = ("stem", "name")


def media_key(name: str, style: str = "stem") -> str:
    """The vis_db key of a file name or path: `stem` (`dir/video12.mp4` -> `video12`, `x.` -> `x`)
    or `name` (`dir/x.mov` -> `x.mov`, `x.` -> `x.`)."""
    base = os.path.basename(name.replace("\\", "/").rstrip("/"))
    if style == "name":
        return base
    if style != "stem":
        raise ValueError(f"unknown key style {style!r}")
    return os.path.splitext(base)[0]


def media_ext(name: str) -> str:
    """Lower-case extension without the dot ("" for `x.` and for names without one)."""
    return os.path.splitext(os.path.basename(name))[1].lstrip(".").lower()


def is_media_file(name: str) -> bool:
    """A file the packer takes: a known video/image extension, or DiDeMo's bare trailing dot."""
    base = os.path.basename(name)
    if base.startswith("."):
        return False
    return media_ext(base) in MEDIA_EXTS or (base.endswith(".") and len(base) > 1)
