"""Evaluation metrics as pure functions over already-gathered predictions (spec §4.4).

Rates are fractions in [0, 1] (acc 0.374, t2v/r1 0.22); ranks are 1-based. Callers gather every
rank's predictions first (`gather_records`), so the numbers are over the whole split, not a shard.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from typing import Any

import torch


def scores_by_type(scores: Sequence[float], answer_types: Sequence[str | None] | None = None,
                   name: str = "acc") -> dict[str, float]:
    """Mean score overall ({name}) and per answer type ({name}/<type>, only types that are given)."""
    out = {name: sum(scores) / len(scores) if scores else 0.0}
    if answer_types is not None:
        by_type: dict[str, list[float]] = defaultdict(list)
        for s, t in zip(scores, answer_types, strict=True):
            if t:
                by_type[str(t)].append(s)
        for t in sorted(by_type):
            out[f"{name}/{t}"] = sum(by_type[t]) / len(by_type[t])
    return out


def qa_accuracy(preds: Sequence[Any], labels: Sequence[Any],
                answer_types: Sequence[str | None] | None = None) -> dict[str, float]:
    """{"acc": ..., "acc/<type>": ...}; per-type entries only where types are given."""
    if len(preds) != len(labels):
        raise ValueError(f"{len(preds)} predictions for {len(labels)} labels")
    return scores_by_type([float(p == y) for p, y in zip(preds, labels, strict=True)], answer_types)


def vqa_score(preds: Sequence[str], soft_labels: Sequence[dict[str, float]],
              answer_types: Sequence[str | None] | None = None) -> dict[str, float]:
    """VQA soft accuracy: the soft score of the predicted answer (0 when absent), overall and per type."""
    return scores_by_type([float(lab.get(p, 0.0)) for p, lab in zip(preds, soft_labels, strict=True)],
                          answer_types)


def _ranks(scores: torch.Tensor, gt: Sequence[Sequence[int]]) -> list[int]:
    """For each row, the best 1-based rank of any of its ground-truth columns.

    Ties are broken by column order (as a stable descending sort would), so a constant score
    matrix does not read as perfect retrieval.
    """
    ranks = []
    for i, cols in enumerate(gt):
        row = scores[i]
        best = None
        for j in cols:
            s = row[j]
            r = int((row > s).sum()) + int((row[:j] == s).sum()) + 1
            best = r if best is None else min(best, r)
        if best is None:
            raise ValueError(f"row {i} has no ground truth")
        ranks.append(best)
    return ranks


def _rank_summary(prefix: str, ranks: Sequence[int]) -> dict[str, float]:
    t = torch.tensor(ranks, dtype=torch.float64)
    n = max(len(ranks), 1)
    return {
        f"{prefix}/r1": float((t <= 1).sum()) / n,
        f"{prefix}/r5": float((t <= 5).sum()) / n,
        f"{prefix}/r10": float((t <= 10).sum()) / n,
        f"{prefix}/mdr": float(torch.quantile(t, 0.5, interpolation="lower")) if ranks else 0.0,
        f"{prefix}/mnr": float(t.mean()) if ranks else 0.0,
    }


def retrieval_metrics(scores: torch.Tensor, text_to_video: Sequence[int]) -> dict[str, float]:
    """R@1/5/10, median and mean rank in both directions from a (n_text, n_video) score matrix.

    text_to_video[i] is the column of text i's video. Video->text uses the inverted map: for each
    video, the best rank among its texts (one text per video in the paragraph tasks).
    """
    scores = torch.as_tensor(scores, dtype=torch.float64)
    n_text = scores.shape[0]
    if len(text_to_video) != n_text:
        raise ValueError(f"{len(text_to_video)} ground-truth entries for {n_text} texts")
    t2v = _ranks(scores, [[v] for v in text_to_video])
    video_to_texts: dict[int, list[int]] = defaultdict(list)
    for t, v in enumerate(text_to_video):
        video_to_texts[v].append(t)
    videos = sorted(video_to_texts)
    v2t = _ranks(scores.t()[videos], [video_to_texts[v] for v in videos])
    return {**_rank_summary("t2v", t2v), **_rank_summary("v2t", v2t)}


def dedup_records(records: Iterable[dict[str, Any]], key: str = "uid") -> list[dict[str, Any]]:
    """Drop the duplicates that a padded distributed sampler adds (first occurrence wins)."""
    seen: set[Hashable] = set()
    out = []
    for r in records:
        k = r[key]
        if k in seen:
            continue
        seen.add(k)
        out.append(r)
    return out


def mean_metric(pairs: Iterable[tuple[float, int]]) -> float:
    """Count-weighted mean of (value, count) pairs (per-rank accuracies -> global)."""
    pairs = list(pairs)
    total = sum(c for _, c in pairs)
    return sum(v * c for v, c in pairs) / total if total else 0.0
