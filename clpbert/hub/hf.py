"""Hugging Face hub sources (`hf://owner/name`) through `huggingface_hub.snapshot_download`.

The hub is reached at the source's `endpoint`, else `$HF_ENDPOINT`, else huggingface.co, so a
mirror or a test server can stand in. Weights: `model.safetensors`, falling back to
`pytorch_model.bin` for repositories without one. Failures become one short `SourceError`
(the library's own messages run to several lines).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from clpbert.hub.download import SourceError
from clpbert.hub.manifest import Source
from clpbert.hub.verify import BERT_WEIGHTS


def _summarize(err: BaseException) -> SourceError:
    text = " ".join(str(err).split())
    errno = re.search(r"\[Errno (-?\d+)\]", text)
    if errno and int(errno.group(1)) in (-2, -3, -5):
        return SourceError("DNS lookup failed (no network?)", offline=True)
    if (errno and int(errno.group(1)) == 111) or "Connection refused" in text:
        return SourceError("connection refused", offline=True)
    if "ConnectError" in text or "ConnectTimeout" in text or "internet connection" in text:
        return SourceError("hub unreachable (no network?)", offline=True)
    status = re.search(r"\b(4\d\d|5\d\d) (Client|Server) Error", text)
    if status:
        return SourceError(f"hub answered {status.group(1)}")
    return SourceError(f"{type(err).__name__}: {text[:120]}")


def fetch_hf(source: Source, into: Path, *, quiet: bool = True) -> Path:
    """Snapshot the repository's BERT files into the new folder `into`; return it."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        raise SourceError("HF_HUB_OFFLINE is set", offline=True)
    try:
        import huggingface_hub
        from huggingface_hub.utils import disable_progress_bars, enable_progress_bars
    except ImportError:
        raise SourceError("huggingface_hub is not installed") from None
    (disable_progress_bars if quiet else enable_progress_bars)()
    into.mkdir(parents=True, exist_ok=True)
    try:
        for weights in BERT_WEIGHTS:
            huggingface_hub.snapshot_download(
                source.repo_id, revision=source.revision, local_dir=into,
                allow_patterns=[*source.allow_patterns, weights], endpoint=source.endpoint or None)
            if (into / weights).is_file():
                break
    except Exception as e:  # the library raises many types (httpx, HfHubHTTPError, LocalEntryNotFound...)
        shutil.rmtree(into, ignore_errors=True)
        raise _summarize(e) from None
    shutil.rmtree(into / ".cache", ignore_errors=True)  # huggingface_hub's resume metadata
    return into
