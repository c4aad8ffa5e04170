"""Sparse sampling (spec §1.10): which frame indices of a video make up each of the N clips.

Everything happens in frame-index space of the stored sequence (the container's frames, or a frame
store's pre-sampled frames). With `n` frames at `src_fps`, a clip of T frames at `target_fps` spans

    clip_size = T / target_fps * src_fps        (source frames; at least 1)
    delta     = max(n - clip_size, 0)           (room for the clip start)

and its frames are `floor(linspace(start, start + clip_size - 1, T))`, clamped to [0, n-1]. For a frame
store packed at the target fps, clip_size = T (consecutive stored frames).

Clip starts by mode:
  rand    training: N independent starts ~ Uniform(0, delta) (may overlap, unordered)
  spread  evaluation with N > 1 clips: start_k = delta * k / N, k = 0..N-1
  middle  retrieval eval with one clip: k=1 of N=3, i.e. start = delta / 3
  start   QA eval with one clip: start = 0
  whole   the window is the whole video (the original's "uniform" strategy, clip_idx = -2)

All functions are pure; randomness comes from an explicit `random.Random` or numpy Generator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

MODES = ("rand", "spread", "middle", "start", "whole")


class UniformSource(Protocol):
    def uniform(self, low: float, high: float) -> float: ...


def clip_size(num_frm: int, target_fps: float, src_fps: float) -> float:
    """Source frames covered by one clip of `num_frm` frames at `target_fps` (at least 1)."""
    if not (target_fps > 0 and src_fps > 0):  # also NaN
        return float(max(num_frm, 1))
    return max(num_frm / target_fps * src_fps, 1.0)


def clip_starts(n: int, size: float, n_clips: int, mode: str,
                rng: UniformSource | None = None) -> list[float]:
    """Start positions (float frame indices) of `n_clips` clips of `size` frames in an n-frame video."""
    if mode not in MODES:
        raise ValueError(f"unknown sampling mode {mode!r}; one of {MODES}")
    delta = max(n - size, 0.0)
    if mode == "rand":
        if rng is None:
            raise ValueError("mode 'rand' needs an rng")
        return [float(rng.uniform(0.0, delta)) for _ in range(n_clips)]
    if mode == "spread":
        return [delta * k / n_clips for k in range(n_clips)]
    if mode == "middle":
        return [delta / 3.0] * n_clips
    return [0.0] * n_clips  # start, whole


def window_indices(start: float, size: float, num_frm: int, n: int) -> list[int]:
    """floor(linspace(start, start + size - 1, T)) clamped to [0, n-1]."""
    end = start + max(size, 1.0) - 1.0
    pts = np.linspace(start, end, num_frm) if num_frm > 1 else np.array([start])
    return np.clip(np.floor(pts + 1e-9), 0, n - 1).astype(np.int64).tolist()


def sample_indices(n: int, src_fps: float, *, num_frm: int, target_fps: float, n_clips: int, mode: str,
                   rng: UniformSource | None = None) -> np.ndarray:
    """Frame indices, int64 (n_clips, num_frm), for an n-frame sequence stored at `src_fps`."""
    if n <= 0:
        raise ValueError("a video needs at least one frame")
    size = float(n) if mode == "whole" else clip_size(num_frm, target_fps, src_fps)
    starts = clip_starts(n, size, n_clips, mode, rng)
    return np.asarray([window_indices(s, size, num_frm, n) for s in starts], dtype=np.int64)


@dataclass(frozen=True)
class SamplingPlan:
    """How one split samples: clips per video, frames per clip, the clip mode and the target fps."""

    n_clips: int
    num_frm: int
    target_fps: float
    mode: str

    def indices(self, n: int, src_fps: float, rng: UniformSource | None = None) -> np.ndarray:
        """int64 (n_clips, num_frm) for one video."""
        return sample_indices(n, src_fps, num_frm=self.num_frm, target_fps=self.target_fps,
                              n_clips=self.n_clips, mode=self.mode, rng=rng)


def plan_sampling(*, train: bool, head: str, num_frm: int, fps: float, train_n_clips: int,
                  inference_n_clips: int, strategy: str = "rand") -> SamplingPlan:
    """The plan the original uses for this phase and task head (spec §1.10 table).

    `strategy` is data.frm_sampling_strategy: `rand` (default) gives random clips in training and, at
    evaluation with one clip, `middle` for retrieval and `start` for QA/MC; `middle`/`start` force that
    start; `uniform` uses the whole video as the window.
    """
    if train:
        mode = {"rand": "rand", "uniform": "whole"}.get(strategy, strategy)
        return SamplingPlan(max(train_n_clips, 1), num_frm, fps, mode)
    n_clips = max(inference_n_clips, 1)
    if n_clips > 1:
        mode = "whole" if strategy == "uniform" else "spread"
    elif strategy == "rand":
        mode = "middle" if head == "retrieval" else "start"
    else:
        mode = {"uniform": "whole"}.get(strategy, strategy)
    return SamplingPlan(n_clips, num_frm, fps, mode)

