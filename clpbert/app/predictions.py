"""Predictions, as the front-ends use them: `clpbert predict` on the user's files (Predictor and
its records) and the saved evaluation predictions of runs (`clpbert runs predictions`: store,
lookup, analysis, columns). Named lazily (facade.py): torch loads only when a command predicts."""

from __future__ import annotations

from clpbert.app.facade import lazy_exports

_HOMES = {
    **dict.fromkeys(("Predictor", "describe", "mode_of", "resolve_device", "resolve_source",
                     "split_options"), "clpbert.predict"),
    "records": "clpbert.predict.records:",
    "analysis": "clpbert.predictions.analysis:", "lookup": "clpbert.predictions.lookup:",
    "store": "clpbert.predictions.store:", "COLUMNS": "clpbert.predictions.schema",
}
__all__ = sorted(_HOMES)
__getattr__, __dir__ = lazy_exports(_HOMES)
