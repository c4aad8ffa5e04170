"""CKPT_OR_RUN -> the weights, the run's resolved config, the answer names and the tokenizer.

Predictions must match how the model was evaluated, so everything that shapes them (model sizes,
frame size L, fps, frames per clip T, inference clips N, clip aggregation, max text length) comes
from the run's resolved config: the `config` dict saved inside our checkpoints, else
RUN_DIR/config.yaml next to `checkpoints/`, else (a released or foreign weights file) the preset
of `--task`. A reference is tried as: an existing file; a run directory; a registered checkpoint
name/id; a run id/name/prefix (its best.pt, else the newest step file).

QA answer names: the `label_names` list the trainer stores in its checkpoints (or an `ans2label`
dict), so a checkpoint predicts without its dataset; for older checkpoints, the run's dataset
`txt_db/ans2label.json` (found like the trainer finds its data: data.txt_db, else the
registered/installed dataset).
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from clpbert.config import PRESETS, RunConfig, apply_mapping, load_config, preset
from clpbert.data.txt_db import label_names
from clpbert.errors import NotFoundError, UserError
from clpbert.runs.run_dir import BEST, CKPT_DIR, CONFIG_FILE, LATEST

STEP_PREFIX = "step_"


@dataclass
class ModelSource:
    """A resolved model: load `state` into `build_model(cfg.model, cfg.task, num_labels)`."""

    ref: str
    path: Path
    """The weights file read."""
    cfg: RunConfig
    state: dict[str, torch.Tensor]
    """The model state dict with our (released) names."""
    config_from: str
    """Where cfg came from: `checkpoint`, a config.yaml path, or `preset:<task>`."""
    run_id: str | None = None
    label_names: list[str] | None = None
    """QA answer names by label index (None: not a QA model or no vocabulary found)."""
    labels_from: str = ""
    """Where label_names came from: `checkpoint` or the ans2label.json path read ("" when none)."""
    tokenizer_dir: str = ""
    notes: list[str] = field(default_factory=list)
    """Non-fatal findings worth one stderr line (e.g. answer names not found)."""

    @property
    def num_labels(self) -> int | None:
        """The head width stored in the weights (`transformer.classifier.2.weight` rows)."""
        w = self.state.get("transformer.classifier.2.weight")
        return int(w.shape[0]) if w is not None else None


# -- locating the file ------------------------------------------------------------------------


def _run_checkpoint(run_dir: Path, what: str) -> Path:
    """best.pt, else latest.json's target, else the newest step file of a run directory."""
    ckpt_dir = run_dir / CKPT_DIR
    if (ckpt_dir / BEST).is_file():
        return ckpt_dir / BEST
    try:
        pointed = ckpt_dir / str(json.loads((ckpt_dir / LATEST).read_text()).get("path", ""))
        if pointed.is_file():
            return pointed
    except (OSError, json.JSONDecodeError):
        pass
    steps = sorted(ckpt_dir.glob(f"{STEP_PREFIX}*.pt")) if ckpt_dir.is_dir() else []
    if steps:
        return steps[-1]
    raise NotFoundError(f"{what} has no checkpoint yet ({ckpt_dir}); wait for its first evaluation "
                        "or pass a weights file")


def locate(ref: str) -> tuple[Path, str | None, Path | None]:
    """(weights file, run id or None, run dir or None) for a file, run dir, checkpoint name or run id."""
    p = Path(ref).expanduser()
    if p.is_file():
        run_dir = p.parent.parent if p.parent.name == CKPT_DIR else None
        return p, None, run_dir
    if p.is_dir():
        if (p / CKPT_DIR).is_dir():
            return _run_checkpoint(p, f"run directory {p}"), None, p
        raise NotFoundError(f"{p} is a directory without {CKPT_DIR}/; pass a weights file or a run id")
    try:
        from clpbert.registry import open_registry

        with open_registry() as reg:
            try:
                ck = reg.get_checkpoint(ref)
                cp = Path(ck.path)
                if not cp.is_file():
                    raise NotFoundError(f"checkpoint {ref!r} is registered at {cp}, which no longer "
                                        "exists; `clpbert ckpts rm` it or restore the file")
                run_dir = None
                if ck.run_id:
                    try:
                        run_dir = Path(reg.get_run(ck.run_id).run_dir)
                    except NotFoundError:
                        run_dir = None
                return cp, ck.run_id, run_dir
            except NotFoundError as e:
                if "registered at" in str(e):
                    raise
            run = reg.get_run(ref)
    except NotFoundError:
        raise NotFoundError(f"--ckpt {ref!r} is not a file, a registered checkpoint or a run; "
                            "`clpbert ckpts list` and `clpbert runs list` show them") from None
    run_dir = Path(run.run_dir)
    return _run_checkpoint(run_dir, f"run {run.id}"), run.id, run_dir


# -- reading the file -------------------------------------------------------------------------


def _read(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(state dict with our names, the checkpoint's other entries such as `config`)."""
    from clpbert.model.weights import FORMATS, detect_format, read_state_dict, to_model_keys

    extras: dict[str, Any] = {}
    raw: dict[str, torch.Tensor] = {}
    if path.suffix != ".safetensors":
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except Exception:  # not a zip pickle, or not a torch file at all: read_state_dict explains
            obj = None
        if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
            extras = {k: v for k, v in obj.items() if k != "model"}
            raw = {str(k).removeprefix("module."): v for k, v in obj["model"].items()
                   if isinstance(v, torch.Tensor)}
    if not raw:
        raw = read_state_dict(path)  # other layouts, or one UserError naming the file
    fmt = detect_format(raw)
    if fmt not in FORMATS:
        raise UserError(f"weights file {path}: unrecognised key layout (first key {next(iter(raw))!r})")
    if fmt != "clipbert":
        raise UserError(f"weights file {path} holds {fmt} weights (only part of a model); predict needs a "
                        "ClipBERT checkpoint (a trained run or the released weights)")
    return to_model_keys(raw, fmt), extras


def _config(extras: dict[str, Any], run_dir: Path | None, task: str | None) -> tuple[RunConfig, str]:
    saved = extras.get("config")
    if isinstance(saved, dict) and saved:
        name = (saved.get("task") or {}).get("name") if isinstance(saved.get("task"), dict) else None
        cfg = preset(name) if name in PRESETS else RunConfig()
        apply_mapping(cfg, saved, source="checkpoint config")
        return cfg, "checkpoint"
    if run_dir is not None and (run_dir / CONFIG_FILE).is_file():
        return load_config(run_dir / CONFIG_FILE), str(run_dir / CONFIG_FILE)
    if not task:
        raise UserError("the weights file carries no config and is not inside a run directory; "
                        "pass --task so its preset's sizes and sampling are used")
    return preset(task), f"preset:{task}"


def _labels_from_extras(extras: dict[str, Any]) -> list[str] | None:
    names = extras.get("label_names")
    if isinstance(names, (list, tuple)) and names:
        return [str(n) for n in names]
    a2l = extras.get("ans2label")
    if isinstance(a2l, dict) and a2l:
        return label_names(a2l)
    return None


def _data_paths(cfg: RunConfig) -> tuple[str, str]:
    """(txt_db dir, tokenizer dir) the way the trainer resolves them; empty strings when unknown."""
    try:
        from clpbert.train.data import resolve_sources

        src = resolve_sources(cfg)[0]
        return src.txt_db, src.tokenizer
    except UserError:
        return cfg.data.txt_db, cfg.data.tokenizer


def resolve_source(ref: str, task: str | None = None, tokenizer: str | None = None) -> ModelSource:
    """Resolve `--ckpt` (file, run dir, registered checkpoint or run id) into a ModelSource."""
    path, run_id, run_dir = locate(ref)
    state, extras = _read(path)
    cfg, config_from = _config(extras, run_dir, task)
    source = ModelSource(ref=ref, path=path, cfg=cfg, state=state, config_from=config_from, run_id=run_id)
    txt_db, tok_dir = _data_paths(cfg)
    source.tokenizer_dir = tokenizer or tok_dir
    if cfg.task.head == "qa":
        source.label_names = _labels_from_extras(extras)
        source.labels_from = "checkpoint" if source.label_names is not None else ""
        if source.label_names is None and txt_db:  # checkpoints written before the trainer saved them
            a2l_path = Path(txt_db) / "ans2label.json"
            with contextlib.suppress(OSError, json.JSONDecodeError, ValueError):
                source.label_names = label_names(json.loads(a2l_path.read_text()))
                source.labels_from = str(a2l_path)
        if source.label_names is None:
            source.notes.append("answer names not found (no ans2label in the checkpoint or the run's "
                                "dataset); answers are shown as label indices")
    if not source.tokenizer_dir or not os.path.isdir(source.tokenizer_dir):
        raise NotFoundError(f"no tokenizer for this model (looked for {source.tokenizer_dir or 'none'}); "
                            "pass --tokenizer DIR (a folder with vocab.txt) or install the run's dataset")
    return source
