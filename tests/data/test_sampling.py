"""Sparse sampling indices (spec §1.10), checked against hand-computed values on fixed seeds."""

from __future__ import annotations

import random

import numpy as np
import pytest

from clpbert.data.sampling import clip_size, plan_sampling, sample_indices


def idx(n, src_fps, mode, n_clips=1, num_frm=2, fps=2.0, rng=None):
    return sample_indices(n, src_fps, num_frm=num_frm, target_fps=fps, n_clips=n_clips, mode=mode,
                          rng=rng).tolist()


def test_clip_size_is_t_over_target_fps_times_source_fps():
    assert clip_size(2, 2.0, 30.0) == 30.0  # 1 second of a 30 fps video
    assert clip_size(1, 1.0, 25.0) == 25.0  # TGIF: 1 s
    assert clip_size(2, 1.0, 25.0) == 50.0  # ANet: 2 s
    assert clip_size(2, 2.0, 2.0) == 2.0  # frame store at the target fps: T consecutive frames


def test_eval_uniform_clips_start_at_delta_k_over_n():
    # n=100 @30fps, clip 30 frames, delta 70: starts 0, 17.5, 35, 52.5; frames = window first & last
    assert idx(100, 30, "spread", n_clips=4) == [[0, 29], [17, 46], [35, 64], [52, 81]]


def test_retrieval_single_clip_is_middle_k1_of_3():
    assert idx(100, 30, "middle") == [[23, 52]]  # start = 70 / 3 = 23.33


def test_qa_single_clip_starts_at_frame_zero():
    assert idx(100, 30, "start") == [[0, 29]]


def test_train_random_clips_on_a_fixed_seed():
    # random.Random(0).random() -> 0.8444218515250481, 0.7579544029403025, 0.420571580830845
    # starts = 70 * those = 59.11, 53.06, 29.44
    assert idx(100, 30, "rand", n_clips=3, rng=random.Random(0)) == [[59, 88], [53, 82], [29, 58]]


def test_random_clips_accept_a_numpy_generator_and_stay_in_range():
    out = np.array(idx(300, 30, "rand", n_clips=64, rng=np.random.default_rng(1)))
    assert out.shape == (64, 2) and out.min() >= 0 and out.max() <= 299
    assert (out[:, 1] - out[:, 0] == 29).all()  # every clip spans exactly clip_size frames
    assert len(set(out[:, 0].tolist())) > 30  # independent starts


def test_one_frame_per_clip():
    assert idx(100, 30, "spread", n_clips=2, num_frm=1, fps=1.0) == [[0], [35]]  # clip 30, delta 70


def test_four_frames_spread_over_the_window():
    assert idx(50, 25, "start", num_frm=4) == [[0, 16, 32, 49]]  # clip 50: linspace(0, 49, 4) floored


def test_short_video_clip_longer_than_video_is_clamped():
    # clip_size 30 > n=10: delta 0, start 0, linspace(0, 29, 2) = [0, 29] -> clamp to [0, 9]
    assert idx(10, 30, "rand", n_clips=2, rng=random.Random(5)) == [[0, 9], [0, 9]]
    assert idx(1, 30, "spread", n_clips=3) == [[0, 0]] * 3


def test_frame_store_clips_are_consecutive_stored_frames():
    assert idx(20, 2.0, "spread", n_clips=3) == [[0, 1], [6, 7], [12, 13]]  # delta 18


def test_whole_video_window():
    assert idx(100, 30, "whole", num_frm=4) == [[0, 33, 66, 99]]


@pytest.mark.parametrize("train,head,n_test,strategy,mode,n", [
    (True, "qa", 1, "rand", "rand", 8),
    (False, "retrieval", 1, "rand", "middle", 1),
    (False, "qa", 1, "rand", "start", 1),
    (False, "mc", 1, "rand", "start", 1),
    (False, "retrieval", 16, "rand", "spread", 16),
    (False, "qa", 1, "uniform", "whole", 1),
])
def test_plan_matches_the_spec_table(train, head, n_test, strategy, mode, n):
    plan = plan_sampling(train=train, head=head, num_frm=2, fps=2, train_n_clips=8,
                         inference_n_clips=n_test, strategy=strategy)
    assert (plan.mode, plan.n_clips) == (mode, n)
