"""Reading weight files and loading them into a ClipBert, with a report of what matched.

Formats recognised (`detect_format`), each mapped to our names (which are the released ones):
  clipbert     a ClipBERT state dict (`cnn.*`, `transformer.*`): the released checkpoint, our own
               checkpoints (a `{"model": state_dict, ...}` wrapper is unwrapped). No renaming.
  detectron2   a grid-feat / detectron2 GeneralizedRCNN state dict (`backbone.res2.0.conv1.weight`,
               `proposal_generator.*`, `roi_heads.*`), flat or under `model`: prefixed `cnn.feature.`.
  torchvision  a torchvision ResNet-50 state dict, remapped (spec §2.5):
                 conv1 -> stem.conv1, bn1 -> stem.conv1.norm,
                 layer{k}.{i}.conv{j} -> res{k+1}.{i}.conv{j},
                 layer{k}.{i}.bn{j} -> res{k+1}.{i}.conv{j}.norm,
                 layer{k}.0.downsample.{0,1} -> res{k+1}.0.shortcut(.norm); fc.* unused.
               The weights are identical; our module puts the stride on conv1 (MSRA), as the original.
  hf_bert      a HF BERT checkpoint (`bert.*`, `cls.*`, or bare BertModel keys), from a file or a
               local directory (config.json + model.safetensors | pytorch_model.bin); LayerNorm
               `gamma`/`beta` are renamed `weight`/`bias`.
A leading `module.` (DDP) is stripped everywhere.

Loading follows the original's rule (spec §2.4): every key that exists in the model with the same
shape is loaded; the rest is reported. Keys the model never uses (the detector's RPN/ROI heads,
`cls.*` in a finetune model) are *unused*, never an error. A shape mismatch in the model body is
a UserError naming the file and the first key; a mismatched task head (`transformer.classifier.*`,
e.g. another answer vocabulary) is reported and left at its initialisation.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from clpbert.errors import NotFoundError, UserError

FORMATS = ("clipbert", "detectron2", "torchvision", "hf_bert")
HEAD_PREFIXES = ("transformer.classifier.",)
# Buffers that carry no weights: never reported as missing or unused.
_IGNORABLE = re.compile(r"(^|\.)(num_batches_tracked|position_ids)$")
# Which part of the model a partial format is supposed to fill (limits the `missing` list).
_SCOPE = {"clipbert": "", "detectron2": "cnn.feature.backbone.", "torchvision": "cnn.feature.backbone.",
          "hf_bert": "transformer."}
HF_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


@dataclass
class LoadReport:
    """What happened to each key of a weight file against a model (all names are ours)."""

    path: str
    format: str
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    """Model keys (within the format's scope) that the file does not provide."""
    unused: list[str] = field(default_factory=list)
    """File keys the model has no place for (detector heads, pretraining heads in a finetune model)."""
    mis_shaped: list[tuple[str, list[int], list[int]]] = field(default_factory=list)
    """(key, shape in file, shape in model)."""

    @property
    def counts(self) -> dict[str, int]:
        return {"loaded": len(self.loaded), "missing": len(self.missing), "unused": len(self.unused),
                "mis_shaped": len(self.mis_shaped)}

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["mis_shaped"] = [{"key": k, "file": f, "model": m} for k, f, m in self.mis_shaped]
        d["counts"] = self.counts
        return d

    def summary(self) -> str:
        c = self.counts
        return (f"{self.path} ({self.format}): loaded {c['loaded']}, missing {c['missing']}, "
                f"unused {c['unused']}, mis-shaped {c['mis_shaped']}")


@dataclass
class InspectReport(LoadReport):
    """A LoadReport computed without loading, against the model of a task preset."""

    task: str = ""


# -- reading ------------------------------------------------------------------------------------


def hf_weight_file(directory: Path) -> Path:
    """The weights file of a local HF model directory, or a NotFoundError saying what is expected."""
    for name in HF_WEIGHT_FILES:
        if (directory / name).is_file():
            return directory / name
    raise NotFoundError(f"{directory} has no {' or '.join(HF_WEIGHT_FILES)}; "
                        "point at a HF BERT directory saved with save_pretrained")


def _to_tensor(value: Any) -> torch.Tensor | None:
    if isinstance(value, torch.Tensor):
        return value
    try:
        import numpy as np
    except ImportError:  # pragma: no cover
        return None
    return torch.from_numpy(value) if isinstance(value, np.ndarray) else None


def _unwrap(obj: Any) -> Any:
    """`{"model": sd, "optimizer": ...}` (detectron2, our trainer) or `{"state_dict": sd}` -> sd."""
    for key in ("model", "state_dict", "module"):
        if isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
            return obj[key]
    return obj


def _load_error_cause(e: Exception) -> str:
    """The informative part of a torch.load error (its weights_only preamble is long and generic)."""
    text = str(e).strip()
    if "WeightsUnpickler error:" in text:
        text = text.split("WeightsUnpickler error:", 1)[1].strip()
    first = text.splitlines()[0].strip() if text else ""
    return first[:160] or type(e).__name__


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Tensors of a weight file (torch pickle read with weights_only, or safetensors), `module.` stripped.

    A directory is read as a HF model directory. Unreadable files raise one UserError naming the file.
    """
    p = Path(path)
    if p.is_dir():
        p = hf_weight_file(p)
    elif not p.exists():
        raise NotFoundError(f"weights file {p} does not exist")
    try:
        if p.suffix == ".safetensors":
            from safetensors.torch import load_file

            obj: Any = load_file(str(p), device="cpu")
        else:
            with warnings.catch_warnings():  # "pickle protocol N" noise for non-torch pickles
                warnings.simplefilter("ignore", UserWarning)
                try:
                    obj = torch.load(p, map_location="cpu", weights_only=True, mmap=True)
                except RuntimeError as e:  # old (non-zip) pickles cannot be memory-mapped
                    if "mmap" not in str(e):
                        raise
                    obj = torch.load(p, map_location="cpu", weights_only=True)
    except (OSError, MemoryError) as e:
        raise UserError(f"cannot read weights file {p}: {e}") from None
    except Exception as e:  # pickle/zip/safetensors errors have many types
        raise UserError(f"cannot read weights file {p}: not a torch or safetensors checkpoint "
                        f"({_load_error_cause(e)}); re-save it as a dict of tensors with torch.save"
                        ) from None
    obj = _unwrap(obj)
    if not isinstance(obj, Mapping):
        raise UserError(f"weights file {p} holds a {type(obj).__name__}, not a state dict")
    out: dict[str, torch.Tensor] = {}
    for key, value in obj.items():
        t = _to_tensor(value)
        if t is not None:
            out[str(key).removeprefix("module.")] = t
    if not out:
        raise UserError(f"weights file {p} contains no tensors")
    return out


# -- formats and renaming ---------------------------------------------------------------------


def detect_format(keys: Iterable[str]) -> str:
    """One of FORMATS from the key names, or `unknown`."""
    keys = list(keys)
    if any(k.startswith(("cnn.", "transformer.")) for k in keys):
        return "clipbert"
    if any(k.startswith(("backbone.", "proposal_generator.", "roi_heads.", "stem.", "res2.")) for k in keys):
        return "detectron2"
    if "conv1.weight" in keys and any(k.startswith("layer1.") for k in keys):
        return "torchvision"
    if any(k.startswith(("bert.", "cls.", "embeddings.word_embeddings", "encoder.layer.")) for k in keys):
        return "hf_bert"
    return "unknown"


_TV_STAGE = re.compile(r"^layer(\d)\.(\d+)\.(.+)$")


def _torchvision_key(key: str) -> str:
    """torchvision ResNet key -> ours (spec §2.5); keys without a place (fc.*) come back unchanged."""
    if key.startswith("conv1."):
        return "cnn.feature.backbone.stem.conv1." + key[len("conv1."):]
    if key.startswith("bn1."):
        return "cnn.feature.backbone.stem.conv1.norm." + key[len("bn1."):]
    m = _TV_STAGE.match(key)
    if not m:
        return key
    stage, block, rest = int(m.group(1)) + 1, m.group(2), m.group(3)
    rest = re.sub(r"^bn(\d)\.", r"conv\1.norm.", rest)
    rest = rest.replace("downsample.0.", "shortcut.").replace("downsample.1.", "shortcut.norm.")
    return f"cnn.feature.backbone.res{stage}.{block}.{rest}"


def _hf_bert_key(key: str) -> str:
    key = re.sub(r"LayerNorm\.gamma$", "LayerNorm.weight", key)
    key = re.sub(r"LayerNorm\.beta$", "LayerNorm.bias", key)
    if key.startswith(("bert.", "cls.")):
        return "transformer." + key
    if key.startswith(("embeddings.", "encoder.", "pooler.")):
        return "transformer.bert." + key
    return key


def to_model_keys(state: Mapping[str, torch.Tensor], fmt: str) -> dict[str, torch.Tensor]:
    """Rename a file's keys into ours according to its format."""
    if fmt == "clipbert":
        return dict(state)
    if fmt == "detectron2":
        backbone_only = not any(k.startswith("backbone.") for k in state)
        prefix = "cnn.feature.backbone." if backbone_only else "cnn.feature."
        return {prefix + k: v for k, v in state.items()}
    if fmt == "torchvision":
        return {_torchvision_key(k): v for k, v in state.items()}
    if fmt == "hf_bert":
        return {_hf_bert_key(k): v for k, v in state.items()}
    raise ValueError(f"unknown weights format {fmt!r}")


# -- matching and loading ---------------------------------------------------------------------


def _model_entries(model: nn.Module) -> dict[str, torch.Tensor]:
    return dict(model.state_dict(keep_vars=True))


def match_state(model: nn.Module, state: Mapping[str, torch.Tensor], fmt: str, path: str = "") -> LoadReport:
    """Compare renamed file tensors with the model's entries (no loading)."""
    entries = _model_entries(model)
    report = LoadReport(path=str(path), format=fmt)
    provided: set[int] = set()
    for key, t in state.items():
        target = entries.get(key)
        if target is None:
            if not _IGNORABLE.search(key):
                report.unused.append(key)
        elif tuple(t.shape) != tuple(target.shape):
            report.mis_shaped.append((key, list(t.shape), list(target.shape)))
        else:
            report.loaded.append(key)
            provided.add(id(target))
    scope = _SCOPE.get(fmt, "")
    for key, target in entries.items():
        # A tied tensor (decoder.weight is word_embeddings.weight) is provided by either name.
        if key.startswith(scope) and key not in state and id(target) not in provided \
                and not _IGNORABLE.search(key):
            report.missing.append(key)
    return report


def _check_shapes(report: LoadReport, allow_mismatch: bool) -> None:
    body = [m for m in report.mis_shaped if not m[0].startswith(HEAD_PREFIXES)]
    if body and not allow_mismatch:
        key, got, want = body[0]
        raise UserError(f"weights file {report.path}: {key} has shape {got} but the model expects {want} "
                        f"({len(body)} mis-shaped keys; do the model sizes in the config match the file?)")


def load_state(model: nn.Module, state: Mapping[str, torch.Tensor], fmt: str, path: str = "",
               allow_mismatch: bool = False) -> LoadReport:
    """Load renamed tensors whose name and shape match; return the report."""
    report = match_state(model, state, fmt, path)
    _check_shapes(report, allow_mismatch)
    good = {k: state[k] for k in report.loaded}
    with torch.no_grad():
        model.load_state_dict(good, strict=False)
    return report


def load_weights(model: nn.Module, path: str | os.PathLike[str], fmt: str = "auto",
                 allow_mismatch: bool = False) -> LoadReport:
    """Read any supported weight file (or HF directory) and load it into `model` (a ClipBert)."""
    raw = read_state_dict(path)
    fmt = detect_format(raw) if fmt == "auto" else fmt
    if fmt not in FORMATS:
        raise UserError(f"weights file {path}: unrecognised key layout (first key {next(iter(raw))!r}); "
                        f"expected one of {', '.join(FORMATS)}")
    return load_state(model, to_model_keys(raw, fmt), fmt, str(path), allow_mismatch)


def load_bert_dir(model: nn.Module, directory: str | os.PathLike[str]) -> LoadReport:
    """A local HF BERT directory (config.json + weights) into the transformer and MLM/ITM heads."""
    d = Path(directory)
    if not (d / "config.json").is_file():
        raise NotFoundError(f"{d} is not a HF model directory (no config.json)")
    return load_weights(model, hf_weight_file(d), fmt="hf_bert")


def load_tokenizer(directory: str | os.PathLike[str]) -> Any:
    """BertTokenizerFast from a local directory (vocab.txt or tokenizer.json); never downloads."""
    d = Path(directory)
    if not ((d / "vocab.txt").is_file() or (d / "tokenizer.json").is_file()):
        raise NotFoundError(f"{d} has no vocab.txt or tokenizer.json; "
                            "point at a local BERT tokenizer directory")
    from transformers import BertTokenizerFast

    return BertTokenizerFast.from_pretrained(str(d), local_files_only=True)


def initialize(model: nn.Module, init_checkpoint: str = "", init_cnn: str = "", init_bert: str = "",
               ) -> list[LoadReport]:
    """Apply runtime.init_cnn, runtime.init_bert, then runtime.init_checkpoint (later ones win)."""
    reports = []
    if init_cnn:
        reports.append(load_weights(model, init_cnn))
    if init_bert:
        p = Path(init_bert)
        reports.append(load_bert_dir(model, p) if p.is_dir() else load_weights(model, p, fmt="hf_bert"))
    if init_checkpoint:
        reports.append(load_weights(model, init_checkpoint))
    return reports


def inspect_checkpoint(path: str | os.PathLike[str], task: str) -> InspectReport:
    """How `path` would load into the model of `task`'s preset (built on the meta device: no memory)."""
    from clpbert.config import preset
    from clpbert.model.clipbert import build_model

    cfg = preset(task)
    with torch.device("meta"):
        model = build_model(cfg.model, cfg.task)
    raw = read_state_dict(path)
    fmt = detect_format(raw)
    if fmt in FORMATS:
        report = match_state(model, to_model_keys(raw, fmt), fmt, str(path))
    else:
        report = LoadReport(path=str(path), format=fmt, unused=list(raw))
    return InspectReport(**{k: getattr(report, k) for k in ("path", "format", "loaded", "missing", "unused",
                                                             "mis_shaped")}, task=task)
