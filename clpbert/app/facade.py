"""Lazy re-exports for the application layer's modules: `from clpbert.app.runs import stop_run`
imports only the engine module that defines `stop_run`, so a command pays for what it uses (the
CLI imports the engine inside each command, and must start fast)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(homes: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """(__getattr__, __dir__) for a module whose names live in `homes`: name -> defining module
    (`module`, `module:attribute` when the name differs, `module:` for the module itself)."""

    def __getattr__(name: str) -> Any:
        if name not in homes:
            raise AttributeError(name)
        module, colon, attr = homes[name].partition(":")
        found = importlib.import_module(module)
        return found if colon and not attr else getattr(found, attr or name)

    def __dir__() -> list[str]:
        return sorted(homes)

    return __getattr__, __dir__
