"""Launch-time check of a run's initial weights (runtime.init_checkpoint / init_cnn / init_bert).

A missing, empty or foreign weights file used to be found only by the trainer, leaving a `failed`
run behind. `check_init_weights` reads each one the way the trainer will (torch with
weights_only, or safetensors; a HF directory for init_bert) before any row or directory exists.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from clpbert.errors import NotFoundError, UserError

FIELDS = (("runtime.init_checkpoint", "init_checkpoint", "auto"), ("runtime.init_cnn", "init_cnn", "auto"),
          ("runtime.init_bert", "init_bert", "hf_bert"))


def resolve_init_ref(reg: Any, ref: str) -> Path:
    """A file, a registered checkpoint name or a run id (its best, else latest checkpoint) -> the file."""
    from clpbert.train import checkpoint as ckpt

    p = Path(ref).expanduser()
    if p.exists():
        return p.absolute()
    try:
        return Path(reg.get_checkpoint(ref).path)
    except NotFoundError:
        pass
    try:
        run = reg.get_run(ref)
    except NotFoundError:
        raise NotFoundError(f"runtime.init_checkpoint={ref!r} is not a file, a registered checkpoint or a "
                            "run; `clpbert ckpts list` shows checkpoints") from None
    run_dir = Path(run.run_dir)
    best = run_dir / ckpt.CKPT_DIR / ckpt.BEST
    latest = ckpt.latest_path(run_dir)
    if best.is_file():
        return best
    if latest is not None:
        return latest
    raise NotFoundError(f"run {ref!r} has no checkpoint yet ({run_dir / ckpt.CKPT_DIR}); "
                        "wait for its first checkpoint or pick another --init")


def check_weights_file(path: Path, fmt: str = "auto", key: str = "weights") -> str:
    """Read the file as the trainer will; returns its detected format or raises one UserError."""
    from clpbert.model.weights import FORMATS, detect_format, hf_weight_file, read_state_dict

    if path.is_dir():
        if fmt == "hf_bert" and not (path / "config.json").is_file():
            raise NotFoundError(f"{key}: {path} is not a HF model directory (no config.json)")
        path = hf_weight_file(path)
    elif not path.exists():
        raise NotFoundError(f"{key}: weights file {path} does not exist")
    raw = read_state_dict(path)
    found = detect_format(raw) if fmt == "auto" else fmt
    if found not in FORMATS:
        raise UserError(f"{key}: weights file {path} has an unrecognised key layout (first key "
                        f"{next(iter(raw))!r}); expected one of {', '.join(FORMATS)}")
    return found


def check_init_weights(reg: Any, cfg: Any) -> None:
    """Every initial-weights setting of cfg names a file that loads; paths are made absolute in cfg,
    so the trainer (another working directory) finds the same file."""
    from clpbert.train.init_source import init_refs

    rt = cfg.runtime
    refs = init_refs(cfg)  # what the trainer loads: nothing for --init none, the checkpoint alone if set
    for key, name, fmt in FIELDS:
        ref = refs.get(key)
        if not ref:
            continue
        if name == "init_checkpoint":
            path = resolve_init_ref(reg, ref)
            if Path(ref).expanduser().exists():
                rt.init_checkpoint = str(path)
        else:
            path = Path(ref).expanduser().absolute()
            setattr(rt, name, str(path))
        check_weights_file(path, fmt, key)
