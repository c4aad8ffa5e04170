"""The user's files -> uint8 frames (N, T, 3, L, L), through the training loader's own functions.

A file becomes a container `VisRecord` (its bytes + extension) and goes through
`clpbert.data.decode.load_frames` with the evaluation `SamplingPlan` (`data.frame_spec.frame_spec`:
N_test uniform clips, or the single-clip middle/start rule) and `resize_pad` (fused into decoding),
exactly as a vis_db entry of the run's dataset would. Images are a 1-frame video (repeated into
every clip, as the loader does). Anything unreadable raises `InputError` with a one-line reason; the
caller reports it and carries on with the other files.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from clpbert.data.frame_spec import FrameSpec, frame_spec  # noqa: F401 (re-exported)
from clpbert.data.vis_db import IMAGE_EXTS, VIDEO_EXTS, VisRecord, normalize_ext
from clpbert.errors import UserError

MEDIA_EXTS = IMAGE_EXTS | VIDEO_EXTS


class InputError(Exception):
    """One input file cannot be used (missing, unreadable, corrupt, too elongated)."""


@dataclass(frozen=True)
class MediaFile:
    """One input: its path and whether it is an image (jpg/png/...) or a video container."""

    path: Path
    ext: str

    @property
    def is_image(self) -> bool:
        return self.ext in IMAGE_EXTS

    @property
    def name(self) -> str:
        return str(self.path)


def collect(paths: Iterable[str | os.PathLike[str]], images: bool | None = None) -> list[MediaFile]:
    """Expand files and directories (their media files, sorted, not recursive) into MediaFiles.

    A named file is kept whatever its extension (a wrong one fails later, per file); a directory
    contributes only files with a known image/video extension (`images` True/False keeps one kind).
    A missing path is a UserError: it is a typo, not a bad video.
    """
    out: list[MediaFile] = []
    for raw in paths:
        p = Path(raw).expanduser()
        if p.is_dir():
            for child in sorted(p.iterdir()):
                ext = normalize_ext(child.suffix)
                wanted = images is None or (ext in IMAGE_EXTS) == images
                if child.is_file() and ext in MEDIA_EXTS and wanted:
                    out.append(MediaFile(child, ext))
        elif p.is_file():
            out.append(MediaFile(p, normalize_ext(p.suffix)))
        else:
            raise UserError(f"input {p} does not exist; pass video/image files or directories")
    return out


def read_bytes(media: MediaFile) -> bytes:
    try:
        return media.path.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror or e}") from None


def content_hash(data: bytes) -> str:
    """sha256 of the file bytes: the cache key that changes whenever the file does."""
    return hashlib.sha256(data).hexdigest()


def load(media: MediaFile, data: bytes, spec: FrameSpec) -> torch.Tensor:
    """uint8 (N, T, 3, L, L) RGB frames of one file, sampled and resized as in evaluation."""
    from clpbert.data.decode import VideoDecodeError, load_frames
    from clpbert.data.transforms import AspectRatioError

    plan, L = spec.plan, spec.size
    record = VisRecord(key=media.name, kind="container", ext=media.ext, data=data)
    try:
        # size=L: each frame is resized and padded as it is decoded (== resize_pad on the full frames)
        if spec.image_model:
            frames = load_frames(record, lambda n, fps: [0], size=L)  # (1, 3, L, L)
        else:
            pick = lambda n, fps: plan.indices(n, fps).reshape(-1)  # noqa: E731
            frames = load_frames(record, pick, size=L)  # (N*T, 3, L, L)
    except (VideoDecodeError, AspectRatioError) as e:
        raise InputError(_one_line(e)) from None
    except Exception as e:  # any decoder failure on hostile bytes is this file's problem only
        raise InputError(f"{type(e).__name__}: {_one_line(e)}") from None
    if spec.image_model:
        return frames.reshape(1, 1, 3, L, L)
    return frames.reshape(plan.n_clips, plan.num_frm, 3, L, L)


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return (text[:240] + "...") if len(text) > 240 else (text or type(e).__name__)


def split_options(options: str | Sequence[str]) -> list[str]:
    """`"A|B|C"` (or a list) -> the non-empty stripped options."""
    items = options.split("|") if isinstance(options, str) else [o for opt in options for o in opt.split("|")]
    return [o.strip() for o in items if o.strip()]
