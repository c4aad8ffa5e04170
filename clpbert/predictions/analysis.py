"""What a person asks of a predictions file: metrics again, the wrong ones, one type, two runs' flips.

Metrics recompute with the same arithmetic, in the same order, as the trainer's (`train/tasks`,
`train/metrics.py`), so they equal the stored numbers exactly, not approximately. Filters and sorts
work on pyarrow Tables (vectorised: 100k rows filter in milliseconds); only the rows shown become
Python dicts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from clpbert.predictions.schema import MC, PRETRAIN, QA, RETRIEVAL, key

SORTS = ("score", "rank")


# -- metrics ---------------------------------------------------------------------------------------


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def qa_metrics(types: Sequence[str | None], credits: Sequence[float], expected: int) -> dict[str, float]:
    """acc (skipped questions count as wrong: scaled by rows / expected) and acc/<type> (rows only)."""
    out = {"acc": _mean(credits)}
    by_type: dict[str, list[float]] = defaultdict(list)
    for t, c in zip(types, credits, strict=True):
        if t:
            by_type[str(t)].append(c)
    for t in sorted(by_type):
        out[f"acc/{t}"] = sum(by_type[t]) / len(by_type[t])
    out["acc"] = out["acc"] * len(credits) / max(expected, 1)
    out["n"] = float(len(credits))
    return out


def rank_summary(prefix: str, ranks: Sequence[int]) -> dict[str, float]:
    """R@1/5/10, median (the lower middle value) and mean rank."""
    n = max(len(ranks), 1)
    ordered = sorted(ranks)
    return {
        f"{prefix}/r1": sum(r <= 1 for r in ranks) / n,
        f"{prefix}/r5": sum(r <= 5 for r in ranks) / n,
        f"{prefix}/r10": sum(r <= 10 for r in ranks) / n,
        f"{prefix}/mdr": float(ordered[(len(ordered) - 1) // 2]) if ranks else 0.0,
        f"{prefix}/mnr": sum(ranks) / n if ranks else 0.0,
    }


def recompute(table: Any, meta: dict[str, Any]) -> dict[str, float]:
    """The task metrics from a predictions table (columns type, credit, rank) and its metadata."""
    cols = table.select(["type", "credit", "rank"]).to_pydict()
    kind = meta.get("kind")
    if kind in (QA, MC):
        return qa_metrics(cols["type"], cols["credit"], int(meta.get("expected") or len(cols["credit"])))
    if kind == RETRIEVAL:
        ranks: dict[str, list[int]] = {"t2v": [], "v2t": []}
        for t, r in zip(cols["type"], cols["rank"], strict=True):
            ranks[t].append(int(r))
        out = {**rank_summary("t2v", ranks["t2v"]), **rank_summary("v2t", ranks["v2t"])}
        out["n"] = float(len(ranks["t2v"]))
        return out
    if kind == PRETRAIN:
        credit: dict[str, list[float]] = {"itm": [], "mlm": []}
        for t, c in zip(cols["type"], cols["credit"], strict=True):
            credit[t].append(c)
        return {"itm_acc": _mean(credit["itm"]), "mlm_acc": _mean(credit["mlm"]),
                "n": float(len(credit["itm"]))}
    raise ValueError(f"unknown predictions kind {kind!r}")


@dataclass
class TypeScore:
    type: str
    right: int
    total: int

    @property
    def acc(self) -> float:
        return self.right / self.total if self.total else 0.0


def accuracy_by_type(table: Any) -> list[TypeScore]:
    """Right / total per type (retrieval: per direction, right = rank 1), by type name."""
    grouped = table.group_by("type").aggregate([("correct", "sum"), ("correct", "count")])
    rows = grouped.to_pydict()
    out = [TypeScore(str(t) if t is not None else "-", int(r or 0), int(n))
           for t, r, n in zip(rows["type"], rows["correct_sum"], rows["correct_count"], strict=True)]
    return sorted(out, key=lambda s: s.type)


def rank_histogram(ranks: Sequence[int],
                   edges: Sequence[int] = (1, 2, 6, 11, 51, 101)) -> list[tuple[str, int]]:
    """Counts of ranks in [1], [2-5], [6-10], [11-50], [51-100], [>100] (labels as shown)."""
    labels = []
    for lo, hi in zip(edges, [*edges[1:], None], strict=True):
        labels.append((lo, hi, f"{lo}" if hi == lo + 1 else (f"{lo}-{hi - 1}" if hi else f">{lo - 1}")))
    counts = [0] * len(labels)
    for r in ranks:
        for i, (lo, hi, _) in enumerate(labels):
            if r >= lo and (hi is None or r < hi):
                counts[i] += 1
                break
    return [(lab, c) for (_, _, lab), c in zip(labels, counts, strict=True)]


# -- filters ---------------------------------------------------------------------------------------


SEARCHED = ("text", "answer", "pred", "video_key", "example_id")


def search_index(table: Any) -> Any:
    """The searched columns of every row joined and lowercased, once: a text search is then one
    plain substring scan (several times faster than a case-insensitive match per column)."""
    import pyarrow.compute as pc

    parts = [pc.fill_null(table[c], "") for c in SEARCHED]
    return pc.utf8_lower(pc.binary_join_element_wise(*parts, "\x1f"))


def filter_indices(table: Any, *, wrong: bool = False, type: str | None = None, answer: str | None = None,
                   text: str | None = None, index: Any = None) -> Any:
    """Row numbers (pyarrow int64 array, in file order) of the rows that are wrong / of one type /
    with this ground-truth or predicted answer / whose question, answer, prediction, video key or id
    contains `text` (case-insensitive). `index`: the table's search_index when the caller keeps one.
    No row is copied: a view takes only the rows it shows (`table.take`)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    masks = []
    if wrong:
        masks.append(pc.invert(pc.fill_null(table["correct"], False)))
    if type:
        masks.append(pc.fill_null(pc.equal(table["type"], type), False))
    if answer:
        masks.append(pc.fill_null(pc.or_(pc.equal(table["answer"], answer), pc.equal(table["pred"], answer)),
                                  False))
    mask = None
    for m in masks:
        mask = m if mask is None else pc.and_(mask, m)
    rows = None if mask is None else pc.indices_nonzero(mask)  # None: every row
    if text:
        if index is None:
            index = search_index(table if rows is None else table.take(rows))
        elif rows is not None:
            index = index.take(rows)
        hits = pc.indices_nonzero(pc.match_substring(index, text.lower()))
        rows = hits if rows is None else rows.take(hits)
    if rows is None:
        import numpy as np

        return pa.array(np.arange(table.num_rows, dtype=np.int64))
    return rows.cast(pa.int64())


def filter_table(table: Any, **filters: Any) -> Any:
    """The rows `filter_indices` picks, as a table (file order)."""
    return table.take(filter_indices(table, **filters))


def sort_table(table: Any, by: str | None) -> Any:
    """score: most confident first; rank: worst ground-truth rank first (file order otherwise)."""
    if not by:
        return table
    if by not in SORTS:
        from clpbert.errors import UserError

        raise UserError(f"--sort {by!r} is not one of: {', '.join(SORTS)}")
    return table.sort_by([(by, "descending")])  # nulls (no score / no rank) last


# -- two runs --------------------------------------------------------------------------------------


@dataclass
class Flips:
    """Examples both runs evaluated whose correctness differs.

    fixed: wrong in A, right in B; broken: right in A, wrong in B; per_type: type -> (fixed,
    broken); common: examples present in both files."""

    fixed: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    broken: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    per_type: dict[str, tuple[int, int]] = field(default_factory=dict)
    common: int = 0

    def counts(self) -> dict[str, Any]:
        return {"common": self.common, "fixed": len(self.fixed), "broken": len(self.broken),
                "per_type": {t: {"fixed": f, "broken": b} for t, (f, b) in sorted(self.per_type.items())}}


def flips(rows_a: Sequence[dict[str, Any]], rows_b: Sequence[dict[str, Any]]) -> Flips:
    """Match rows by (type, example_id) and collect the ones whose `correct` differs (B's order)."""
    by_key = {key(r): r for r in rows_a}
    out = Flips()
    per_type: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for b in rows_b:
        a = by_key.get(key(b))
        if a is None:
            continue
        out.common += 1
        if a["correct"] == b["correct"]:
            continue
        t = str(b.get("type") or "-")
        if b["correct"]:
            out.fixed.append((a, b))
            per_type[t][0] += 1
        else:
            out.broken.append((a, b))
            per_type[t][1] += 1
    out.per_type = {t: (f, b) for t, (f, b) in per_type.items()}
    return out
