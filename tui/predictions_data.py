"""What the predictions and flip screens read: one evaluation's saved predictions, two runs' flips.

Plain calls on the shared registry, run in the screens' thread workers; the pyarrow table stays
whole in memory (100k rows are a few MiB) and the table widget turns only visible rows into dicts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

VIDEO_SUFFIXES = (".mp4", ".webm", ".avi", ".mkv", ".mov", ".gif", ".jpg", ".jpeg", ".png")


@dataclass
class PredictionsView:
    """One evaluation's predictions and where its videos can be found."""

    run_id: str
    run_name: str
    task: str
    step: int
    split: str
    kind: str
    metrics: dict[str, Any]
    table: Any  # pyarrow.Table, schema.COLUMNS
    video_dirs: list[Path]
    types: list[str]
    """The types present (question types; t2v/v2t; itm/mlm), for the type filter."""
    index: Any = None
    """analysis.search_index of the table, built after the first paint (None until then)."""

    @property
    def title(self) -> str:
        return f"{self.run_name} ({self.run_id}) step {self.step} {self.split}"

    def video_file(self, key: str | None) -> Path | None:
        """The video/image file of a key, as `clpbert predict --video` takes it, when one exists."""
        if not key:
            return None
        for folder in self.video_dirs:
            for suffix in VIDEO_SUFFIXES:
                path = folder / f"{key}{suffix}"
                if path.is_file():
                    return path
        return None


@dataclass
class FlipsView:
    a: PredictionsView
    b: PredictionsView
    flips: Any  # predictions.analysis.Flips


def _video_dirs(registry: Any, run: Any) -> list[Path]:
    """`videos/` beside the run's vis_db(s) (how `clpbert demo` and `datasets prepare --videos` leave
    them); nothing when the videos live only inside the LMDB."""
    data = (run.config or {}).get("data") or {}
    vis = [v for v in str(data.get("vis_db") or "").split(",") if v]
    if not vis and data.get("dataset"):
        try:
            vis = [registry.get_dataset(str(data["dataset"])).vis_db]
        except Exception:  # a removed dataset: no files to point at
            vis = []
    return [Path(v).parent / "videos" for v in vis if v]


def load_predictions(registry: Any, run_id: str, step: int | None = None, split: str | None = None,
                     best: bool = False) -> PredictionsView:
    """The evaluation's file (latest of the split when step is None); UserError when it has none."""
    import pyarrow.compute as pc

    from clpbert.predictions import lookup, store

    run = registry.get_run(run_id)
    saved = lookup.find_saved_eval(registry, run, step=step, best=best, split=split)
    table = store.read_table(saved.path)
    types = sorted(t for t in pc.unique(table["type"]).to_pylist() if t is not None)
    return PredictionsView(run.id, run.name or run.id, run.task, saved.eval.step, saved.eval.split,
                           saved.kind, dict(saved.eval.metrics), table, _video_dirs(registry, run), types)


def load_flips(registry: Any, run_a: str, run_b: str, split: str | None = None) -> FlipsView:
    """Both runs' latest predictions of the split and the examples that flipped between them."""
    from clpbert.predictions import analysis

    a = load_predictions(registry, run_a, split=split)
    b = load_predictions(registry, run_b, split=split or a.split)
    return FlipsView(a, b, analysis.flips(a.table.to_pylist(), b.table.to_pylist()))
