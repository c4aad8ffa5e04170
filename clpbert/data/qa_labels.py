"""A QA question's label in the answer vocabulary, and which questions training keeps.

The rule has one home so that what trains (QADataset) and the step count printed before launch
(clpbert.train.steps, in `clpbert run` and `clpbert config show`) agree: with one answer per
question (CE), a question whose answer is not in ans2label cannot be learnt and is left out of
training (at evaluation it stays, and counts as wrong); with soft scores (VQA) every question
trains, those without an in-vocabulary answer with zero targets, as the original. Torch-free.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

UNKNOWN = -100
"""The label of an answer outside the vocabulary (the loss's ignore index)."""


def soft_scores(records: list[dict[str, Any]]) -> bool:
    """Whether the records carry soft answer scores (`labels`: {answer: score}, VQA)."""
    return any(isinstance(r.get("labels"), dict) for r in records[:100])


def answer_label(rec: Mapping[str, Any], ans2label: Mapping[str, int]) -> int:
    """ans2label of the record's answer (soft scores: the highest-scored one), else UNKNOWN."""
    answer = rec.get("answer")
    if answer is None and isinstance(rec.get("labels"), dict) and rec["labels"]:
        answer = max(rec["labels"].items(), key=lambda kv: kv[1])[0]
    return ans2label.get(str(answer), UNKNOWN) if answer is not None else UNKNOWN


def training_questions(records: list[dict[str, Any]], ans2label: Mapping[str, int]) -> list[dict[str, Any]]:
    """The records training uses: all with soft scores, else those with an in-vocabulary answer."""
    if soft_scores(records):
        return records
    return [r for r in records if answer_label(r, ans2label) != UNKNOWN]
