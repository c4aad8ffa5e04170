"""The registry, as the front-ends open it: `open_registry` (read-write), `open_for_reading`
(commands that only read) and the record types. Named lazily (facade.py): SQLAlchemy loads only
when a command opens the registry."""

from __future__ import annotations

from clpbert.app.facade import lazy_exports

_HOMES = {
    "open_registry": "clpbert.registry", "Registry": "clpbert.registry", "Run": "clpbert.registry",
    "open_for_reading": "clpbert.runs.read_gate",
}
__all__ = sorted(_HOMES)
__getattr__, __dir__ = lazy_exports(_HOMES)
