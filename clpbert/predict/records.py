"""`clpbert predict` results as saved-predictions rows (predictions.schema), for --json's "records".

The same columns as an evaluation's predictions file, so scripts read both alike; a user's files
have no ground truth, so answer, correct, credit and rank are None.
"""

from __future__ import annotations

from typing import Any

from clpbert.predictions import schema


def qa_records(result: Any) -> list[dict[str, Any]]:
    """One row per (input, question), top-k answers as candidates."""
    rows = []
    for n, p in enumerate(result.predictions):
        rows.append(schema.record(example_id=n, video_key=p.path, text=p.question,
                                  pred=p.answers[0].answer if p.answers else None, correct=None,
                                  score=p.answers[0].prob if p.answers else None,
                                  candidates=[a.answer for a in p.answers],
                                  candidate_scores=[a.prob for a in p.answers]))
    return rows


def mc_records(result: Any) -> list[dict[str, Any]]:
    """One row per input: every option and its score, the chosen one as pred."""
    return [schema.record(example_id=n, video_key=p.path, text=p.question, pred=p.chosen, correct=None,
                          score=p.scores[p.choice], candidates=p.options, candidate_scores=p.scores)
            for n, p in enumerate(result.predictions)]


def retrieval_records(result: Any, n_queries: int, top_k: int) -> list[dict[str, Any]]:
    """A t2v row per --query (top-k videos) and a v2t row per input when --caption texts were given."""
    rows = []
    for i, text in enumerate(result.texts[:n_queries]):
        ranked = result.rank_videos(i)[:top_k]
        rows.append(schema.record(example_id=i, type="t2v", text=text, pred=ranked[0][0] if ranked else None,
                                  correct=None, score=ranked[0][1] if ranked else None,
                                  candidates=[p for p, _ in ranked], candidate_scores=[s for _, s in ranked]))
    if n_queries < len(result.texts):
        captions = result.texts[n_queries:]
        for j, path in enumerate(result.paths):
            col = result.scores[n_queries:, j]
            order = col.argsort(descending=True, stable=True).tolist()[:top_k]
            rows.append(schema.record(example_id=path, video_key=path, type="v2t", pred=captions[order[0]],
                                      correct=None, score=float(col[order[0]]),
                                      candidates=[captions[i] for i in order],
                                      candidate_scores=[float(col[i]) for i in order]))
    return rows


def itm_records(result: Any) -> list[dict[str, Any]]:
    """One itm row per (input, caption): pred match when P(match) >= 0.5."""
    return [schema.record(example_id=n, video_key=p.path, type="itm", text=p.caption,
                          pred="match" if p.score >= 0.5 else "mismatch", correct=None, score=p.score)
            for n, p in enumerate(result.predictions)]
