"""Metrics on hand-built inputs, checked against values computed by hand."""

from __future__ import annotations

import pytest
import torch

from clpbert.train import metrics


def test_qa_accuracy_overall_and_per_type():
    out = metrics.qa_accuracy([1, 2, 3, 4, 5], [1, 2, 0, 4, 0], ["what", "what", "who", "who", None])
    assert out["acc"] == pytest.approx(3 / 5)
    assert out["acc/what"] == pytest.approx(1.0)
    assert out["acc/who"] == pytest.approx(0.5)
    assert set(out) == {"acc", "acc/what", "acc/who"}


def test_qa_accuracy_unknown_answer_label_is_wrong():
    assert metrics.qa_accuracy([0, 1], [-100, 1])["acc"] == pytest.approx(0.5)


def test_vqa_soft_score():
    out = metrics.vqa_score(["2", "yes"], [{"2": 1.0, "3": 0.3}, {"no": 1.0}], ["number", "yes/no"])
    assert out == {"acc": 0.5, "acc/number": 1.0, "acc/yes/no": 0.0}


def test_retrieval_metrics_hand_computed():
    # 4 texts x 3 videos; texts 0,1 -> video 0, text 2 -> video 1, text 3 -> video 2
    scores = torch.tensor([
        [0.9, 0.1, 0.2],   # gt col 0 -> rank 1
        [0.1, 0.5, 0.4],   # gt col 0 -> rank 3
        [0.3, 0.2, 0.8],   # gt col 1 -> rank 3
        [0.2, 0.1, 0.7],   # gt col 2 -> rank 1
    ])
    out = metrics.retrieval_metrics(scores, [0, 0, 1, 2])
    # t2v ranks: 1, 3, 3, 1
    assert out["t2v/r1"] == pytest.approx(0.5)
    assert out["t2v/r5"] == pytest.approx(1.0)
    assert out["t2v/r10"] == pytest.approx(1.0)
    assert out["t2v/mdr"] == pytest.approx(1.0)  # lower median of [1, 1, 3, 3]
    assert out["t2v/mnr"] == pytest.approx(2.0)
    # v2t: video 0 column [0.9,0.1,0.3,0.2], best of texts {0,1} -> rank 1
    # video 1 column [0.1,0.5,0.2,0.1], text 2 (0.2) -> rank 2
    # video 2 column [0.2,0.4,0.8,0.7], text 3 (0.7) -> rank 2
    assert out["v2t/r1"] == pytest.approx(1 / 3)
    assert out["v2t/r5"] == pytest.approx(1.0)
    assert out["v2t/mdr"] == pytest.approx(2.0)
    assert out["v2t/mnr"] == pytest.approx(5 / 3)


def test_retrieval_ties_are_not_perfect():
    out = metrics.retrieval_metrics(torch.zeros(3, 3), [0, 1, 2])
    assert out["t2v/r1"] == pytest.approx(1 / 3)  # only the first column wins a tie
    assert out["t2v/mnr"] == pytest.approx(2.0)


def test_retrieval_recall_at_10_boundary():
    n = 12
    scores = torch.eye(n)
    scores[0] = torch.linspace(1, 0, n)  # text 0's gt (col 0) is the best
    scores[1] = torch.arange(n, dtype=torch.float32)  # text 1's gt (col 1) ranks 11th
    out = metrics.retrieval_metrics(scores, list(range(n)))
    assert out["t2v/r10"] == pytest.approx((n - 1) / n)


def test_dedup_padded_records_keeps_first():
    recs = [{"uid": 1, "v": "a"}, {"uid": 2, "v": "b"}, {"uid": 1, "v": "c"}]
    assert metrics.dedup_records(recs) == [{"uid": 1, "v": "a"}, {"uid": 2, "v": "b"}]


def test_mean_metric_is_count_weighted():
    assert metrics.mean_metric(iter([(1.0, 1), (0.0, 3)])) == pytest.approx(0.25)
