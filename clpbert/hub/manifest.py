"""The list of downloadable artifacts: what each is, where it can come from, what it must hash to.

Each artifact has a `kind` (what the model does with it: `e2e` released ClipBERT checkpoint, `bert`
HF BERT directory, `cnn` grid-feat ResNet-50), a `layout` (a single `file` or a `dir`), and its
sources in the order they are tried. A source is a URL (`https://...`, unpacked as a plain file or,
for `.tar`/`.tar.gz`/`.tgz`, as an archive) or a Hugging Face hub repository (`hf://owner/name`,
fetched with `huggingface_hub.snapshot_download`, honouring `$HF_ENDPOINT`).

`$CLPBERT_HUB_MANIFEST` names a JSON or YAML file that replaces the built-in manifest entirely:

    artifacts:
      pretrained:
        kind: e2e
        filename: clipbert_image_text_pretrained.pt
        sha256: 0123...            # optional; checked when present
        size: 889500000            # optional
        sources:
          - https://mirror.internal/clipbert/clipbert_image_text_pretrained.pt
      bert-base-uncased:
        kind: bert
        sources:
          - https://mirror.internal/clipbert/bert-base-uncased.tar
          - {hf: google-bert/bert-base-uncased, endpoint: https://hf-mirror.internal}
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clpbert.errors import ConfigError, UserError

MANIFEST_ENV = "CLPBERT_HUB_MANIFEST"
ORIGINAL_BASE = "https://convaisharables.blob.core.windows.net/clipbert"
KINDS = ("e2e", "bert", "cnn")
UNPACKS = ("file", "tar", "hf-repo")
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")

BERT_PATTERNS = ("config.json", "vocab.txt", "tokenizer.json", "tokenizer_config.json",
                 "special_tokens_map.json")
"""Hub files of a BERT directory besides the weights (weights: model.safetensors, else pytorch_model.bin)."""


@dataclass(frozen=True)
class Source:
    """One place an artifact can come from."""

    url: str
    """`https://...`, `http://...`, `file:///...` or `hf://owner/name`."""
    unpack: str = "file"
    """`file` (the bytes are the artifact), `tar` (extract safely) or `hf-repo` (snapshot_download)."""
    revision: str = "main"
    """hf-repo only: branch, tag or commit."""
    allow_patterns: tuple[str, ...] = BERT_PATTERNS
    """hf-repo only: files to fetch besides the weights."""
    endpoint: str = ""
    """hf-repo only: hub URL (empty = $HF_ENDPOINT or huggingface.co)."""
    sha256: str = ""
    """sha256 of the downloaded bytes when they differ from the installed artifact (a tar); optional."""
    size: int = 0

    @property
    def repo_id(self) -> str:
        return self.url.removeprefix("hf://")

    def describe(self) -> str:
        """A short name for messages: the host and last path part, or the hub repo."""
        if self.unpack == "hf-repo":
            return f"hf://{self.repo_id}" + (f" ({self.endpoint})" if self.endpoint else "")
        return self.url


@dataclass(frozen=True)
class Artifact:
    """A downloadable thing and how to check it."""

    name: str
    kind: str
    layout: str
    """`file` (installed as DEST/filename) or `dir` (DEST is the directory)."""
    sources: tuple[Source, ...]
    filename: str = ""
    sha256: str = ""
    """Expected sha256 of the file (layout file) or of the tree digest (layout dir); empty = unknown."""
    size: int = 0
    """Expected size in bytes (file) or total bytes (dir); 0 = unknown."""
    note: str = ""
    """Shown when every source fails (e.g. that the original host is gone)."""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


def infer_unpack(url: str) -> str:
    if url.startswith("hf://"):
        return "hf-repo"
    path = url.split("?", 1)[0].lower()
    return "tar" if path.endswith(TAR_SUFFIXES) else "file"


def builtin_artifacts() -> dict[str, Artifact]:
    """The original ClipBERT files (spec §6) with the public mirrors that still answer."""
    base = f"{ORIGINAL_BASE}/pretrained"
    return {
        "pretrained": Artifact(
            name="pretrained", kind="e2e", layout="file", filename="clipbert_image_text_pretrained.pt",
            sources=(Source(f"{base}/clipbert_image_text_pretrained.pt"),),
            note="the original host answers 409 since 2022 and there is no public mirror; "
                 "use `clpbert download pretrained --from <your copy of clipbert_image_text_pretrained.pt>`"),
        "bert-base-uncased": Artifact(
            name="bert-base-uncased", kind="bert", layout="dir",
            sources=(Source(f"{base}/bert-base-uncased.tar", unpack="tar"),
                     Source("hf://google-bert/bert-base-uncased", unpack="hf-repo")),
            note="any local HF BERT directory works: `--from DIR` (config.json, vocab.txt, weights)"),
        "grid-feat-r50": Artifact(
            name="grid-feat-r50", kind="cnn", layout="file", filename="grid_feat_R-50.pth",
            sources=(Source(f"{base}/grid_feat_R-50.pth"),
                     Source("https://dl.fbaipublicfiles.com/grid-feats-vqa/R-50/R-50.pth")),
            note="the FAIR grid-feats-vqa R-50.pth is the same model family (trained with res5 dilation 2)"),
    }


def _source_from(raw: Any, where: str) -> Source:
    if isinstance(raw, str):
        return Source(raw, unpack=infer_unpack(raw))
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: a source is a URL string or a mapping, got {raw!r}")
    if "hf" in raw:
        url = f"hf://{raw['hf']}"
    elif "url" in raw:
        url = str(raw["url"])
    else:
        raise ConfigError(f"{where}: a source mapping needs `url:` or `hf:`")
    unpack = str(raw.get("unpack") or infer_unpack(url))
    if unpack not in UNPACKS:
        raise ConfigError(f"{where}: unpack {unpack!r} is not one of {', '.join(UNPACKS)}")
    patterns = raw.get("allow_patterns")
    return Source(url, unpack=unpack, revision=str(raw.get("revision") or "main"),
                  allow_patterns=tuple(patterns) if patterns else BERT_PATTERNS,
                  endpoint=str(raw.get("endpoint") or ""), sha256=_sha(raw.get("sha256"), where),
                  size=int(raw.get("size") or 0))


def _sha(value: Any, where: str) -> str:
    sha = str(value or "").lower()
    if sha and (len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha)):
        raise ConfigError(f"{where}: sha256 must be 64 hex digits, got {value!r}")
    return sha


def _artifact_from(name: str, raw: Any, where: str) -> Artifact:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: artifact {name!r} must be a mapping")
    kind = str(raw.get("kind", ""))
    if kind not in KINDS:
        raise ConfigError(f"{where}: artifact {name!r} needs kind: one of {', '.join(KINDS)}")
    sources = tuple(_source_from(s, f"{where}: {name}") for s in raw.get("sources") or ())
    if not sources:
        raise ConfigError(f"{where}: artifact {name!r} lists no sources")
    filename = str(raw.get("filename") or "")
    layout = str(raw.get("layout") or ("dir" if kind == "bert" else "file"))
    if layout not in ("file", "dir"):
        raise ConfigError(f"{where}: artifact {name!r}: layout must be file or dir")
    if layout == "file" and not filename:
        raise ConfigError(f"{where}: artifact {name!r} has layout file and needs a filename")
    sha = _sha(raw.get("sha256"), f"{where}: {name}")
    known = {"kind", "layout", "sources", "filename", "sha256", "size", "note"}
    return Artifact(name=name, kind=kind, layout=layout, sources=sources, filename=filename, sha256=sha,
                    size=int(raw.get("size") or 0), note=str(raw.get("note") or ""),
                    extra={k: v for k, v in raw.items() if k not in known})


def load_manifest_file(path: str | os.PathLike[str]) -> dict[str, Artifact]:
    """Artifacts from a JSON/YAML file shaped like the module docstring's example."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise ConfigError(f"cannot read hub manifest {p} (${MANIFEST_ENV}): {e.strerror}") from None
    try:
        if p.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except (ValueError, ImportError) as e:
        raise ConfigError(f"hub manifest {p} is not valid JSON/YAML: {str(e).splitlines()[0]}") from None
    except Exception as e:  # yaml.YAMLError
        raise ConfigError(f"hub manifest {p} is not valid YAML: {str(e).splitlines()[0]}") from None
    arts = data.get("artifacts") if isinstance(data, dict) else None
    if not isinstance(arts, dict) or not arts:
        raise ConfigError(f"hub manifest {p}: expected a top-level `artifacts:` mapping")
    return {str(n): _artifact_from(str(n), raw, str(p)) for n, raw in arts.items()}


def load_manifest(environ: dict[str, str] | None = None) -> dict[str, Artifact]:
    """$CLPBERT_HUB_MANIFEST when set (it replaces everything), else the built-in artifacts."""
    env = os.environ if environ is None else environ
    override = env.get(MANIFEST_ENV, "")
    return load_manifest_file(override) if override else builtin_artifacts()


def select(manifest: dict[str, Artifact], name: str) -> list[Artifact]:
    """`all` or one artifact name; a UserError listing the choices otherwise."""
    if name == "all":
        return list(manifest.values())
    if name not in manifest:
        raise UserError(f"unknown artifact {name!r}; choose one of: {', '.join([*manifest, 'all'])}")
    return [manifest[name]]
