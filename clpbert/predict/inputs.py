"""The user's files -> uint8 frames (N, T, 3, L, L), through the training loader's own functions.

A file becomes a container `VisRecord` (its bytes + extension) and goes through
`clpbert.data.decode.load_frames` with the evaluation `SamplingPlan` (`plan_sampling(train=False)`:
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

from clpbert.config import RunConfig
from clpbert.data.sampling import SamplingPlan, plan_sampling
from clpbert.data.vis_db import IMAGE_EXTS, VIDEO_EXTS, VisRecord, normalize_ext
from clpbert.errors import UserError

MEDIA_EXTS = IMAGE_EXTS | VIDEO_EXTS
IMAGE_TASKS = frozenset({"pretrain", "vqa"})


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


@dataclass(frozen=True)
class FrameSpec:
    """How frames are sampled and sized for one model: the eval plan and L (part of the cache key)."""

    plan: SamplingPlan
    size: int
    image_model: bool
    """Image tasks (pretrain, vqa) take one frame: (1, 1, 3, L, L)."""

    def key(self) -> dict[str, object]:
        p = self.plan
        return {"L": self.size, "fps": p.target_fps, "T": p.num_frm, "N": p.n_clips, "mode": p.mode,
                "image_model": self.image_model}


def frame_spec(cfg: RunConfig) -> FrameSpec:
    """The evaluation sampling of cfg's task (the same rules `build_dataset(train=False)` applies)."""
    d = cfg.data
    image = cfg.task.name in IMAGE_TASKS or cfg.task.head == "pretrain"
    plan = plan_sampling(train=False, head=cfg.task.head, num_frm=d.num_frm, fps=d.fps,
                         train_n_clips=d.train_n_clips, inference_n_clips=d.inference_n_clips,
                         strategy=d.frm_sampling_strategy)
    if image:
        plan = SamplingPlan(1, 1, plan.target_fps, "start")
    return FrameSpec(plan=plan, size=d.max_img_size, image_model=image)


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
