"""On-disk cache of CNN features, keyed by what the features depend on and nothing else.

    <cache_dir()>/features/<model key>/<sha256 of the file>[:2]/<sha256 of the file>.safetensors

The model key is the sha256 of a JSON document: the CNN weights' digest (every `cnn.*` tensor's name,
shape, dtype and bytes), the CNN's config (blocks, width, norm, pixel mean), the sampling (L, fps, T,
N_test, clip mode, image/video model), the compute precision and a format version. Each model key
directory holds `key.json` (that document) for people. A file's entry is its sha256 of the bytes,
so editing or replacing a video changes its hash and the old entry is simply never hit again
(the old file stays until `clpbert` cache cleaning removes it; entries are small: N*h*w*D values).

Entries are written to a temp name and renamed (os.replace), so concurrent predictions never read
half a file; an entry that fails to load is treated as a miss and rewritten.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

FORMAT_VERSION = 1
CNN_CONFIG_FIELDS = ("cnn_blocks", "cnn_width", "cnn_norm", "pixel_mean", "hidden_size")


def cnn_digest(model: torch.nn.Module) -> str:
    """sha256 over every `cnn.*` tensor (name, dtype, shape, bytes) of a ClipBert."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        if not name.startswith("cnn."):
            continue
        t = t.detach().to("cpu").contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def model_key(model: torch.nn.Module, model_cfg: Any, frame_key: dict[str, Any], precision: str,
              ) -> tuple[str, dict[str, Any]]:
    """(hex key, the JSON-able document it hashes)."""
    doc = {"version": FORMAT_VERSION, "cnn_sha256": cnn_digest(model),
           "cnn": {f: getattr(model_cfg, f) for f in CNN_CONFIG_FIELDS}, "sampling": frame_key,
           "precision": precision}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest(), doc


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    writes: int = 0


class FeatureCache:
    """get/put visual features (N, h, w, D) by the video file's sha256, for one model key."""

    def __init__(self, root: str | os.PathLike[str], key: str, doc: dict[str, Any] | None = None):
        self.dir = Path(root) / key[:24]
        self.key = key
        self.stats = CacheStats()
        self._doc = doc
        self._lock = threading.Lock()  # decode threads look entries up concurrently

    def _count(self, name: str) -> None:
        with self._lock:
            setattr(self.stats, name, getattr(self.stats, name) + 1)

    def path(self, content_sha: str) -> Path:
        return self.dir / content_sha[:2] / f"{content_sha}.safetensors"

    def get(self, content_sha: str) -> torch.Tensor | None:
        p = self.path(content_sha)
        if not p.is_file():
            self._count("misses")
            return None
        try:
            from safetensors.torch import load_file

            t = load_file(str(p))["visual"]
        except Exception:  # torn/foreign file: recompute and overwrite
            self._count("misses")
            return None
        self._count("hits")
        return t

    def put(self, content_sha: str, visual: torch.Tensor) -> None:
        """Store one video's features (N, h, w, D) atomically; errors (full disk) only cost speed."""
        from safetensors.torch import save_file

        p = self.path(content_sha)
        tmp = p.with_name(f".{p.name}.tmp{os.getpid()}")
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            if self._doc is not None and not (self.dir / "key.json").exists():
                _atomic_text(self.dir / "key.json", json.dumps(self._doc, indent=1, sort_keys=True))
            save_file({"visual": visual.detach().to("cpu").contiguous()}, str(tmp),
                      metadata={"key": self.key})
            os.replace(tmp, p)
            self._count("writes")
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()

    def entries(self) -> list[Path]:
        return sorted(self.dir.glob("*/*.safetensors")) if self.dir.is_dir() else []


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def default_root() -> Path:
    from clpbert import paths

    return paths.cache_dir() / "features"
