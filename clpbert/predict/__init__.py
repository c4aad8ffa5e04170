"""Task predictions on a user's own videos, images and text (`clpbert predict`), usable as a library.

    resolve_source(ref, task=None) -> ModelSource       checkpoint_source.py (file / run / registered name)
    Predictor(source, device, precision, cache=True)    predictor.py: .qa .multiple_choice .retrieval .itm
    Predictor.from_ref(ref, task=None, **kw)
    collect(paths) -> [MediaFile];  frame_spec(cfg)     inputs.py (same decode/sampling/resize as eval)
    FeatureCache                                        feature_cache.py (CNN features on disk by sha256)
"""

from clpbert.predict.checkpoint_source import ModelSource, resolve_source
from clpbert.predict.feature_cache import FeatureCache, cnn_digest, model_key
from clpbert.predict.inputs import InputError, MediaFile, collect, frame_spec, split_options
from clpbert.predict.predictor import (
    Answer,
    InputFailure,
    ITMScore,
    MCPrediction,
    Predictor,
    QAPrediction,
    Results,
    RetrievalResult,
    describe,
    mode_of,
    resolve_device,
)

__all__ = [
    "Answer",
    "FeatureCache",
    "ITMScore",
    "InputError",
    "InputFailure",
    "MCPrediction",
    "MediaFile",
    "ModelSource",
    "Predictor",
    "QAPrediction",
    "Results",
    "RetrievalResult",
    "cnn_digest",
    "collect",
    "describe",
    "frame_spec",
    "mode_of",
    "model_key",
    "resolve_device",
    "resolve_source",
    "split_options",
]
