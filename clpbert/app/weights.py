"""Weights, as the front-ends handle them: download and install (`clpbert download`), read and
inspect a checkpoint file (`clpbert ckpts add|inspect`), its checksum. Named lazily (facade.py)."""

from __future__ import annotations

from clpbert.app.facade import lazy_exports

_HOMES = {
    "install": "clpbert.hub.install", "DownloadError": "clpbert.hub.install",
    "load_manifest": "clpbert.hub.manifest", "select": "clpbert.hub.manifest",
    "NullProgress": "clpbert.hub.download",
    "read_state_dict": "clpbert.model.weights", "inspect_checkpoint": "clpbert.model.weights",
    "sha256_file": "clpbert.registry.checksum",
}
__all__ = sorted(_HOMES)
__getattr__, __dir__ = lazy_exports(_HOMES)
