"""Opt-in torch.compile with an eager fallback.

Compilation can fail at the first call, or at a recompile after a shape change (seen: an Inductor
assertion). A training run should then continue in eager mode instead of dying, so the compiled
forward is tried and, on any error, the module's original forward takes over for good. The module
object is patched in place (not wrapped), so parameter names, state dicts and DDP stay unchanged.
Failures that happen only in the compiled *backward* surface at `loss.backward()` and are not caught.
"""

from __future__ import annotations

import logging
from typing import Any

from torch import nn

log = logging.getLogger(__name__)


class _FallbackForward:
    def __init__(self, module: nn.Module, compiled: Any, eager: Any) -> None:
        self.module_name = type(module).__name__
        self.compiled = compiled
        self.eager = eager
        self.failed: BaseException | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.failed is None:
            try:
                return self.compiled(*args, **kwargs)
            except Exception as e:  # any compiler failure means: run eagerly
                self.failed = e
                first = str(e).splitlines()[0][:200] if str(e) else ""
                log.warning("torch.compile of %s failed (%s: %s); continuing in eager mode",
                            self.module_name, type(e).__name__, first)
        return self.eager(*args, **kwargs)


def maybe_compile(module: nn.Module, enabled: bool = True, **compile_kwargs: Any) -> nn.Module:
    """Return `module` with a compiled forward (static shapes by default) and eager fallback."""
    if not enabled:
        return module
    import torch

    compile_kwargs.setdefault("dynamic", False)
    eager = module.forward
    compiled = torch.compile(eager, **compile_kwargs)
    module.forward = _FallbackForward(module, compiled, eager)  # type: ignore[method-assign]
    return module


def compile_failed(module: nn.Module) -> BaseException | None:
    """The error that made `module` fall back to eager, or None (also when it was never compiled)."""
    fwd = module.__dict__.get("forward")
    return fwd.failed if isinstance(fwd, _FallbackForward) else None
