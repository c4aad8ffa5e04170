"""Where a run's initial weights come from, as the original's configs say (spec §2.4, §4.2).

Every finetuning preset starts from the image-text pretrained checkpoint (`runtime.init_checkpoint:
pretrained`, the name `clpbert download pretrained` registers); pretraining starts from the
grid-feature ResNet-50 and bert-base-uncased (`runtime.init_cnn: grid-feat-r50`,
`runtime.init_bert: bert-base-uncased`). The demo trains from scratch. `--init none`
(runtime.init_checkpoint=none) is the explicit choice of random weights, and is shown as such.

A reference is a file or folder, a registered checkpoint name, or (init_checkpoint only) a run id.
`check_init` refuses a launch whose references name nothing, with one line saying how to get them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from clpbert.errors import NotFoundError, UserError

RANDOM = "none"
PRETRAINED = "pretrained"
GRID_FEAT = "grid-feat-r50"
BERT = "bert-base-uncased"


def _runtime(cfg: Any) -> dict[str, Any]:
    """The runtime section of a RunConfig or of its dict (as the registry stores it)."""
    if isinstance(cfg, dict):
        return dict(cfg.get("runtime") or {})
    rt = cfg.runtime
    return {"init_checkpoint": rt.init_checkpoint, "init_cnn": rt.init_cnn, "init_bert": rt.init_bert}


def is_random(cfg: Any) -> bool:
    """True when the run was asked to start from random weights (`--init none`)."""
    return str(_runtime(cfg).get("init_checkpoint") or "").strip().lower() == RANDOM


def init_refs(cfg: Any) -> dict[str, str]:
    """The references the trainer loads, by config key: the checkpoint alone when there is one
    (it replaces everything, as the original's e2e weights do), else the CNN and BERT ones."""
    rt = _runtime(cfg)
    if is_random(cfg):
        return {}
    if rt.get("init_checkpoint"):
        return {"runtime.init_checkpoint": str(rt["init_checkpoint"])}
    return {f"runtime.{k}": str(rt[k]) for k in ("init_cnn", "init_bert") if rt.get(k)}


def describe(cfg: Any) -> str:
    """One phrase for `runs show` and the TUI: random (--init none), from scratch, or the references."""
    if is_random(cfg):
        return "random weights (--init none)"
    refs = init_refs(cfg)
    kind = cfg.get("kind") if isinstance(cfg, dict) else cfg.kind
    if not refs and kind == "eval":
        return "the model given with --init"
    return " + ".join(refs.values()) if refs else "from scratch"


def _exists(ref: str, reg: Any, runs_too: bool) -> bool:
    if Path(ref).expanduser().exists():
        return True
    try:
        reg.get_checkpoint(ref)
        return True
    except NotFoundError:
        pass
    if runs_too:
        try:
            reg.get_run(ref)
            return True
        except NotFoundError:
            pass
    return False


def check_init(cfg: Any, reg: Any) -> None:
    """UserError (one line) when an initial-weights reference names no file, checkpoint or run."""
    if cfg.kind == "eval":
        return
    for key, ref in init_refs(cfg).items():
        if _exists(ref, reg, runs_too=key == "runtime.init_checkpoint"):
            continue
        if ref == PRETRAINED:
            raise UserError(f"task {cfg.task.name} starts from the image-text pretrained checkpoint "
                            f"{PRETRAINED!r}, which is not registered: install it with `clpbert download "
                            "pretrained --from PATH`, or pass --init none to train from random weights")
        if ref in (GRID_FEAT, BERT):
            raise UserError(f"pretraining starts from {GRID_FEAT} and {BERT}; {ref!r} is not registered: "
                            f"install it with `clpbert download {ref}`, or pass --init none to train from "
                            "random weights")
        raise UserError(f"{key}={ref!r} is not a file, a registered checkpoint or a run; `clpbert ckpts "
                        "list` shows checkpoints (--init none trains from random weights)")


def pinned_key(key: str) -> str:
    """The field where the launcher writes what a reference resolved to: init_cnn -> init_cnn_path."""
    return f"{key.split('.', 1)[-1]}_path"


def resolve_paths(cfg: Any) -> dict[str, str]:
    """The files the trainer loads: {init_checkpoint|init_cnn|init_bert: path}. The launcher's
    pinned path (runtime.<name>_path) is used when set, so the registry is not asked."""
    from clpbert.train.loop import resolve_init_checkpoint

    out = {}
    for key, ref in init_refs(cfg).items():
        pinned = str(getattr(cfg.runtime, pinned_key(key), "") or "")
        out[key.split(".", 1)[1]] = resolve_init_checkpoint(pinned or ref)
    return out
