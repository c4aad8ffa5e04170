"""Pretrained weights: where they come from (manifest), how they arrive (download), how they are
checked (verify) and installed into the registry (install).

The original ClipBERT host answers HTTP 409 since 2022, so every artifact lists mirrors, and any
artifact can be installed from a copy the user already has (`--from PATH|URL`).

Environment:
  CLPBERT_HUB_MANIFEST   a JSON/YAML file that replaces the built-in manifest entirely (internal
                         mirrors for air-gapped clusters, test servers); format in manifest.py.
  CLPBERT_HUB_TRIES      attempts per source for transient failures (default 3).
  CLPBERT_HUB_BACKOFF    seconds to wait before each retry, comma-separated (default 0.5,1,2).
  CLPBERT_HUB_TIMEOUT    seconds without a byte before an attempt fails (default 30).
  HF_ENDPOINT            Hugging Face hub mirror for `hf://` sources (read by huggingface_hub);
  HF_HUB_OFFLINE=1       skips `hf://` sources at once.

Modules: manifest.py (artifacts and sources), download.py (one resumable HTTP file), hf.py (hub
snapshots), unpack.py (safe tar extraction, digests, atomic install), verify.py (safe-load structure
checks), install.py (sources in order -> verified -> installed -> registered). Progress is reported
through download.Progress callbacks; the rich bar lives in the CLI (cli/progress.py).
"""
