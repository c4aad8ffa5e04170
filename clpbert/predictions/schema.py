"""The prediction record: one flat row per evaluated example, the same columns for every task kind.

One schema for all kinds keeps the CLI, the TUI and the flip view kind-agnostic; what a column
means per kind:

    column            qa / vqa             mc                   retrieval t2v / v2t       pretrain itm / mlm
    example_id        question id          question id          text id / video key       caption # / token #
    video_key         the video (image)    the video            GT video / the video      the image
    type              question type        question type        "t2v" / "v2t"             "itm" / "mlm"
    text              question             question             caption / its GT caption  -
    answer            GT answer            GT option            GT video / GT caption     match? / GT token
    pred              top-1 answer         chosen option        top-1 video / caption     as answer
    correct           pred is right        chosen == GT         rank == 1                 pred == answer
    credit            1/0 (VQA: soft)      1/0                  1/0                       1/0
    score             top-1 probability    chosen option score  P(match) of the GT pair   P(pred)
    rank              GT among all answers GT among the options GT among videos / texts   -
    candidates        top-5 answers        every option         top-5 videos / captions   -
    candidate_scores  their probabilities  their scores         their P(match)            -

`credit` is what the task metric averages, so metrics recompute exactly from a file
(`analysis.py`). `(type, example_id)` is unique within a file: it is the key that matches two
runs' rows in the flip view. `clpbert predict --json` prints the same rows under "records" (no
ground truth: answer, correct, credit and rank are null). File metadata: kind, task, split, step
and `expected` (the examples in the split, counting those whose video could not be read: they
count as wrong in `acc`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

QA, MC, RETRIEVAL, PRETRAIN = "qa", "mc", "retrieval", "pretrain"
KINDS = (QA, MC, RETRIEVAL, PRETRAIN)
TOP_K = 5
"""Candidates kept per row (QA answers, retrieval videos/captions); multiple choice keeps all options."""

COLUMNS = ("example_id", "video_key", "type", "text", "answer", "pred", "correct", "credit", "score", "rank",
           "candidates", "candidate_scores")
STRING_COLUMNS = ("example_id", "video_key", "type", "text", "answer", "pred")
SCHEMA_VERSION = "1"


def record(*, example_id: Any, video_key: Any = None, type: str | None = None, text: str | None = None,
           answer: Any = None, pred: Any = None, correct: bool | None, credit: float | None = None,
           score: float | None = None, rank: int | None = None, candidates: Sequence[Any] | None = None,
           candidate_scores: Sequence[float] | None = None) -> dict[str, Any]:
    """One row with every column; ids, keys and answers as strings (None stays None). Without a
    ground truth (`clpbert predict` on a user's files) answer, correct, credit and rank are None."""

    def s(v: Any) -> str | None:
        return None if v is None else str(v)

    return {
        "example_id": str(example_id), "video_key": s(video_key), "type": s(type), "text": s(text),
        "answer": s(answer), "pred": s(pred), "correct": None if correct is None else bool(correct),
        "credit": float(credit) if credit is not None else (None if correct is None else float(correct)),
        "score": None if score is None else float(score), "rank": None if rank is None else int(rank),
        "candidates": None if candidates is None else [str(c) for c in candidates],
        "candidate_scores": None if candidate_scores is None else [float(x) for x in candidate_scores],
    }


def key(row: dict[str, Any]) -> tuple[str | None, str]:
    """The identity of an example across runs evaluated on the same split."""
    return row.get("type"), str(row["example_id"])
