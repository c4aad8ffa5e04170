"""Which saved predictions a person means: a run's evaluation by split and step, the latest, or the best.

The registry indexes each evaluation's file (eval id -> path relative to the run dir); this module
picks one and says clearly what exists when the choice does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clpbert.errors import UserError


@dataclass(frozen=True)
class SavedEval:
    """One evaluation with a predictions file: the run, the Eval row and the file."""

    run: Any  # registry Run
    eval: Any  # registry Eval
    path: Path
    kind: str
    rows: int

    @property
    def label(self) -> str:
        return f"{self.run.id} step {self.eval.step} {self.eval.split}"


def lower_is_better(metric: str) -> bool:
    """Ranks and losses improve downwards (as the trainer's best-checkpoint choice)."""
    last = metric.rsplit("/", 1)[-1]
    return last in ("mdr", "mnr", "medr", "meanr") or "loss" in last


def saved_evals(reg: Any, run: Any) -> list[SavedEval]:
    """The run's evaluations that have a predictions file, by step then id."""
    index = reg.list_eval_predictions(run.id)
    out = []
    for ev in reg.list_evals(run.id):
        p = index.get(ev.id)
        if p is not None:
            out.append(SavedEval(run, ev, Path(run.run_dir) / p.path, p.kind, p.rows))
    return out


def find_saved_eval(reg: Any, run: Any, *, step: int | None = None, best: bool = False,
                    split: str | None = None) -> SavedEval:
    """The evaluation to show: of `split` (default: val if saved, else the first split saved), at
    `step`, the best by the run's selection metric, or else the latest."""
    if step is not None and best:
        raise UserError("give --step N or --best, not both")
    found = saved_evals(reg, run)
    if not found:
        raise UserError(f"run {run.id} has no saved predictions (it evaluated before clpbert saved them, "
                        "ran with eval.save_predictions=false, or has not evaluated yet)")
    splits = list(dict.fromkeys(s.eval.split for s in found))
    chosen_split = split or ("val" if "val" in splits else splits[0])
    found = [s for s in found if s.eval.split == chosen_split]
    if not found:
        raise UserError(f"run {run.id} has no saved predictions for split {chosen_split!r}; it has: "
                        f"{', '.join(splits)} (--split)")
    if step is not None:
        at = [s for s in found if s.eval.step == step]
        if not at:
            steps = ", ".join(str(s.eval.step) for s in found)
            raise UserError(f"run {run.id} has no saved {chosen_split} predictions at step {step}; steps "
                            f"with predictions: {steps} (older files go by eval.keep_last)")
        return at[-1]
    if best:
        return _best(run, found)
    return found[-1]


def _best(run: Any, found: list[SavedEval]) -> SavedEval:
    name = run.best_metric_name or next(iter(found[-1].eval.metrics), None)
    scored = [s for s in found if isinstance(s.eval.metrics.get(name), (int, float))]
    if not name or not scored:
        raise UserError(f"run {run.id}'s saved evaluations have no selection metric to pick the best by; "
                        "use --step N")
    # ties go to the earliest step, as the trainer only moves best.pt on a strict improvement
    if lower_is_better(name):
        return min(scored, key=lambda s: (s.eval.metrics[name], s.eval.step))
    return max(scored, key=lambda s: (s.eval.metrics[name], -s.eval.step))
