"""The per-task eval table: one row per (eval step, split), one column per metric.

QA runs log `acc` and `acc/<answer type>`; retrieval runs log `t2v/r1 r5 r10 medr meanr` and the
same for `v2t`. Columns come out in that reading order whatever the dict order was, headers read
"t2v R@1", "v2t MedR", and the best value of each column is bold (max for accuracies and recalls,
min for median/mean rank).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from rich.text import Text
from textual.widgets import DataTable

from tui import formatting as fmt

_RANK_ORDER = {"r1": 0, "r5": 1, "r10": 2, "r50": 3, "medr": 4, "meanr": 5}
_LABELS = {"r1": "R@1", "r5": "R@5", "r10": "R@10", "r50": "R@50", "medr": "MedR", "meanr": "MeanR"}


@dataclass(frozen=True)
class EvalRow:
    step: int
    split: str
    metrics: Mapping[str, float | None]


def column_order(name: str) -> tuple:
    """acc, acc/<type>..., then per direction R@1, R@5, R@10, MedR, MeanR, then anything else."""
    head, _, tail = name.partition("/")
    if name == "acc":
        return (0, "", 0, "")
    if head == "acc":
        return (1, "", 0, tail)
    if tail in _RANK_ORDER:
        return (2, head, _RANK_ORDER[tail], "")
    return (3, name, 0, "")


def column_label(name: str) -> str:
    head, _, tail = name.partition("/")
    return f"{head} {_LABELS[tail]}" if tail in _LABELS else name


def lower_is_better(name: str) -> bool:
    return name.rsplit("/", 1)[-1] in ("medr", "meanr") or "loss" in name


class EvalTable(DataTable):
    """Eval results across steps; `add_evals` appends new rows in place."""

    DEFAULT_CSS = "EvalTable { height: 1fr; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, zebra_stripes=True, cursor_type="row")
        self.rows_seen: list[EvalRow] = []
        self.metric_names: list[str] = []

    def add_evals(self, rows: Iterable[EvalRow]) -> None:
        new = list(rows)
        if not new:
            return
        self.rows_seen.extend(new)
        names = sorted({k for r in self.rows_seen for k in r.metrics}, key=column_order)
        if names != self.metric_names:
            self.metric_names = names
            self._rebuild()
        else:
            for row in new:
                self._add(row)
            self._restyle_best()

    def _rebuild(self) -> None:
        self.clear(columns=True)
        self.add_column("step", key="step")
        self.add_column("split", key="split")
        for name in self.metric_names:
            self.add_column(column_label(name), key=name)
        for row in self.rows_seen:
            self._add(row)
        self._restyle_best()

    def _add(self, row: EvalRow) -> None:
        key = f"{row.step}:{row.split}"
        cells = [Text(str(row.step), justify="right"), row.split]
        cells += [Text(fmt.number(row.metrics.get(n)), justify="right") for n in self.metric_names]
        if key in self.rows:
            self.remove_row(key)
        self.add_row(*cells, key=key)

    def _restyle_best(self) -> None:
        """Bold the best value per (split, metric)."""
        for name in self.metric_names:
            best: dict[str, tuple[float, str]] = {}
            for row in self.rows_seen:
                value = row.metrics.get(name)
                if value is None:
                    continue
                sign = -1 if lower_is_better(name) else 1
                key = f"{row.step}:{row.split}"
                if row.split not in best or sign * value > sign * best[row.split][0]:
                    best[row.split] = (value, key)
            for row in self.rows_seen:
                key = f"{row.step}:{row.split}"
                value = row.metrics.get(name)
                is_best = best.get(row.split, (None, None))[1] == key
                text = Text(fmt.number(value), justify="right", style="bold" if is_best else "")
                self.update_cell(key, name, text)
