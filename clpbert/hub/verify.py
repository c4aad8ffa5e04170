"""Structure checks for fetched weights, before anything is registered.

A checksum proves the bytes are the expected ones only when the manifest knows the sha256 (the
original files have none published), so each artifact is also opened the safe way: torch files
with `weights_only=True` (no pickle code runs), BERT folders must have config, vocabulary and a
weights file whose tensors can be listed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from clpbert.hub.download import SourceError

BERT_WEIGHTS = ("model.safetensors", "pytorch_model.bin")


class VerifyError(SourceError):
    """The artifact's bytes are not what the model can load."""


@dataclass(frozen=True)
class StructureReport:
    tensors: int
    elements: int
    detail: str

    def line(self) -> str:
        return f"{self.tensors} tensors, {self.elements / 1e6:.1f}M values ({self.detail})"


def _load_torch(path: Path) -> object:
    import torch

    try:
        try:
            return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as e:  # legacy (non-zip) files cannot be memory-mapped
            if "mmap" not in str(e):
                raise
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise VerifyError(f"{path.name} does not load with torch.load(weights_only=True): {first[:160]}") \
            from None


def state_dict_of(obj: object) -> Mapping:
    """The tensor mapping inside a checkpoint: the object itself, or its `model`/`state_dict` entry."""
    if isinstance(obj, Mapping):
        for key in ("model", "state_dict"):
            inner = obj.get(key)
            if isinstance(inner, Mapping):
                return inner
        return obj
    return {}


def _count(sd: Mapping) -> tuple[int, int]:
    import torch

    tensors = [v for v in sd.values() if isinstance(v, torch.Tensor)]
    return len(tensors), sum(t.numel() for t in tensors)


def check_torch_file(path: Path) -> StructureReport:
    """A torch checkpoint holding at least one tensor, loadable without running pickle code."""
    if not path.is_file():
        raise VerifyError(f"{path} is not a file")
    sd = state_dict_of(_load_torch(path))
    n, elements = _count(sd)
    if not n:
        raise VerifyError(f"{path.name} loads but holds no tensors (not a state dict)")
    return StructureReport(n, elements, "torch state dict")


def check_bert_dir(path: Path) -> StructureReport:
    """An HF BERT folder: config.json (a BERT config), vocab.txt or tokenizer.json, and weights."""
    if not path.is_dir():
        raise VerifyError(f"{path} is not a folder (a BERT artifact is a folder with config.json)")
    missing = []
    config = path / "config.json"
    if not config.is_file():
        missing.append("config.json")
    if not (path / "vocab.txt").is_file() and not (path / "tokenizer.json").is_file():
        missing.append("vocab.txt")
    weights = next((path / w for w in BERT_WEIGHTS if (path / w).is_file()), None)
    if weights is None:
        missing.append(" or ".join(BERT_WEIGHTS))
    if missing:
        raise VerifyError(f"{path.name} is not a BERT folder: missing {', '.join(missing)}")
    try:
        cfg = json.loads(config.read_text())
    except (OSError, ValueError) as e:
        raise VerifyError(f"{config} is not valid JSON ({e})") from None
    if not isinstance(cfg, dict) or "hidden_size" not in cfg:
        raise VerifyError(f"{config} is not a BERT config (no hidden_size)")
    assert weights is not None
    if weights.suffix == ".safetensors":
        n, elements = _safetensors_count(weights)
    else:
        n, elements = _count(state_dict_of(_load_torch(weights)))
    if not n:
        raise VerifyError(f"{weights.name} holds no tensors")
    return StructureReport(n, elements, f"{cfg.get('model_type', 'bert')} {weights.name}")


def _safetensors_count(path: Path) -> tuple[int, int]:
    import math

    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            keys = list(f.keys())
            return len(keys), sum(math.prod(f.get_slice(k).get_shape()) for k in keys)
    except Exception as e:  # safetensors raises its own SafetensorError for a bad header
        raise VerifyError(f"{path.name} is not a readable safetensors file ({e})") from None


def check_structure(path: Path, kind: str) -> StructureReport:
    return check_bert_dir(path) if kind == "bert" else check_torch_file(path)
