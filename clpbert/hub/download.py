"""One HTTP(S) file download: resumable, hashed while written, renamed into place only when verified.

`fetch_url(url, dest)` streams into `<dest>.part` and keeps `<dest>.part.json` (URL, ETag, total) next
to it. A later call for the same URL re-hashes the existing part and asks for the rest with
`Range: bytes=<offset>-` (plus `If-Range` with the ETag). A server that ignores Range (200) or whose
file changed gets a clean restart from byte 0. Transient failures (timeouts, resets, a body cut short,
5xx, 429) are retried with back-off; permanent ones (4xx, DNS failure, connection refused, checksum
mismatch) raise `SourceError` at once so the caller can move on to the next source.

Stdlib only (urllib), so downloading needs no extra dependency.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import re
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from clpbert.fileio import atomic_write_json, fsync_dir

CHUNK = 1 << 20
USER_AGENT = "clpbert-download/0.1"
SCHEMES = ("http", "https")
"""The only schemes fetched or followed in a redirect (urllib alone would follow one to ftp://)."""


class SourceError(Exception):
    """One source failed. `summary` is short enough to list several in one line."""

    def __init__(self, summary: str, *, retryable: bool = False, offline: bool = False):
        super().__init__(summary)
        self.summary = summary
        self.retryable = retryable
        self.offline = offline
        """True when the host could not be reached at all (DNS failure, connection refused)."""


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        scheme = urllib.parse.urlsplit(newurl).scheme.lower()
        if scheme not in SCHEMES:
            raise SourceError(f"redirected to a {scheme}: URL ({newurl}); only http(s) redirects are "
                              "followed")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_HttpOnlyRedirects)


class _TooLarge(Exception):
    """The body passed the size the manifest gives (a cap, so a bad source cannot fill the disk)."""

    def __init__(self, received: int):
        super().__init__(received)
        self.received = received


class Progress(Protocol):
    """Receives byte counts; the CLI draws a rich bar, tests and --json use `NullProgress`."""

    def start(self, label: str, total: int | None, completed: int = 0) -> None: ...

    def advance(self, n: int) -> None: ...

    def stop(self) -> None: ...


class NullProgress:
    def start(self, label: str, total: int | None, completed: int = 0) -> None:
        pass

    def advance(self, n: int) -> None:
        pass

    def stop(self) -> None:
        pass


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries for transient failures; `CLPBERT_HUB_TRIES` / `CLPBERT_HUB_BACKOFF` override."""

    tries: int = 3
    backoff: tuple[float, ...] = (0.5, 1.0, 2.0)
    timeout: float = 30.0
    """Seconds without any byte (connect or read) before the attempt counts as failed."""

    def delay(self, attempt: int) -> float:
        return self.backoff[min(attempt, len(self.backoff) - 1)] if self.backoff else 0.0

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> RetryPolicy:
        env = os.environ if environ is None else environ
        policy = cls()
        try:
            tries = int(env.get("CLPBERT_HUB_TRIES", policy.tries))
            backoff = tuple(float(x) for x in env["CLPBERT_HUB_BACKOFF"].split(",")) \
                if env.get("CLPBERT_HUB_BACKOFF") else policy.backoff
            timeout = float(env.get("CLPBERT_HUB_TIMEOUT", policy.timeout))
        except ValueError:
            return policy
        return cls(tries=max(1, tries), backoff=backoff, timeout=timeout)


@dataclass(frozen=True)
class Fetched:
    path: Path
    sha256: str
    size: int
    resumed_from: int = 0
    """Bytes that were already on disk from an interrupted earlier attempt."""


def describe_network_error(err: BaseException) -> tuple[str, bool, bool]:
    """(short text, retryable, offline) for an exception raised while talking to a server."""
    reason: BaseException | str = err.reason if isinstance(err, urllib.error.URLError) else err
    if isinstance(reason, socket.gaierror):
        return "DNS lookup failed (no network?)", False, True
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused", False, True
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return "timed out", True, False
    if isinstance(reason, ssl.SSLError):
        return f"TLS error: {getattr(reason, 'reason', None) or reason}", False, False
    if isinstance(reason, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)):
        return "connection reset", True, False
    if isinstance(reason, http.client.IncompleteRead):
        return "connection closed mid-body", True, False
    if isinstance(reason, http.client.HTTPException):
        return f"bad HTTP response ({type(reason).__name__})", True, False
    if isinstance(reason, OSError) and reason.errno is not None:
        unreachable = reason.errno in (101, 113)  # ENETUNREACH, EHOSTUNREACH
        return (reason.strerror or str(reason)).lower(), not unreachable, unreachable
    return str(reason) or type(reason).__name__, True, False


def _http_error(err: urllib.error.HTTPError) -> SourceError:
    retryable = err.code >= 500 or err.code in (408, 429)
    return SourceError(f"{err.code} {err.reason}".strip(), retryable=retryable)


def _part_paths(dest: Path) -> tuple[Path, Path]:
    return dest.with_name(dest.name + ".part"), dest.with_name(dest.name + ".part.json")


def discard_partial(dest: Path) -> None:
    """Remove `<dest>.part` and its sidecar (after a checksum mismatch, or for --force)."""
    for p in _part_paths(dest):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def _hash_file(path: Path, hasher: hashlib._Hash) -> int:
    n = 0
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            hasher.update(chunk)
            n += len(chunk)
    return n


def _resume_state(url: str, dest: Path) -> tuple[int, hashlib._Hash, dict]:
    """(offset, hasher over the existing part, sidecar) — offset 0 when there is nothing to resume."""
    part, meta_path = _part_paths(dest)
    hasher = hashlib.sha256()
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        meta = {}
    if not part.exists() or meta.get("url") != url:
        discard_partial(dest)
        return 0, hasher, {}
    return _hash_file(part, hasher), hasher, meta


def _write_sidecar(dest: Path, meta: dict) -> None:
    _, meta_path = _part_paths(dest)
    atomic_write_json(meta_path, meta)


_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


def _finish(dest: Path, hasher: hashlib._Hash, received: int, sha256: str, size: int,
            resumed_from: int) -> Fetched:
    part, meta_path = _part_paths(dest)
    if size and received != size:
        discard_partial(dest)
        raise SourceError(f"size {received} bytes, expected {size}")
    digest = hasher.hexdigest()
    if sha256 and digest != sha256.lower():
        discard_partial(dest)
        raise SourceError(f"sha256 mismatch (got {digest[:12]}…, expected {sha256[:12]}…)")
    os.replace(part, dest)
    with contextlib.suppress(FileNotFoundError):
        meta_path.unlink()
    fsync_dir(dest.parent)
    return Fetched(dest, digest, received, resumed_from)


def _attempt(url: str, dest: Path, sha256: str, size: int, timeout: float, progress: Progress,
             label: str) -> Fetched:
    part, _ = _part_paths(dest)
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in SCHEMES:
        raise SourceError(f"{scheme or 'no'} scheme in {url}: only http(s) URLs are downloaded")
    offset, hasher, meta = _resume_state(url, dest)
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
        if meta.get("etag"):
            headers["If-Range"] = meta["etag"]
    try:
        resp = _OPENER.open(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:
            m = re.match(r"bytes\s+\*/(\d+)", e.headers.get("Content-Range", ""))
            if m and int(m.group(1)) == offset:  # the part already holds the whole file
                return _finish(dest, hasher, offset, sha256, size, offset)
            discard_partial(dest)
            raise SourceError("416 Range Not Satisfiable (restarting)", retryable=True) from None
        raise _http_error(e) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
        text, retryable, offline = describe_network_error(e)
        raise SourceError(text, retryable=retryable, offline=offline) from None

    with resp:
        length = resp.headers.get("Content-Length")
        body_len = int(length) if length and length.isdigit() else None
        resumed_from = 0
        if resp.status == 206 and offset:
            m = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
            if not m or int(m.group(1)) != offset:
                discard_partial(dest)
                raise SourceError("server answered a different byte range (restarting)", retryable=True)
            mode, resumed_from = "ab", offset
        else:  # 200: Range ignored, or the file changed (If-Range) -> start over
            offset, hasher, mode = 0, hashlib.sha256(), "wb"
        total = offset + body_len if body_len is not None else None
        if size and total is not None and total > size:
            discard_partial(dest)
            raise SourceError(f"the server sends {total} bytes, more than the expected {size}")
        _write_sidecar(dest, {"url": url, "etag": resp.headers.get("ETag", ""),
                              "last_modified": resp.headers.get("Last-Modified", ""), "total": total})
        progress.start(label, total or (size or None), offset)
        received = offset
        try:
            with part.open(mode) as f:
                try:
                    while chunk := resp.read(CHUNK):
                        if size and received + len(chunk) > size:  # no Content-Length: stop at the cap
                            raise _TooLarge(received + len(chunk))
                        f.write(chunk)
                        hasher.update(chunk)
                        received += len(chunk)
                        progress.advance(len(chunk))
                finally:
                    f.flush()
                    os.fsync(f.fileno())
        except _TooLarge as e:
            discard_partial(dest)
            raise SourceError(f"the server sent more than the expected {size} bytes ({e.received} and "
                              "counting); refused") from None
        except (OSError, http.client.HTTPException) as e:
            if isinstance(e, OSError) and e.errno in (28, 122):  # ENOSPC, EDQUOT: not worth a retry
                raise SourceError(f"disk full writing {part}", retryable=False) from None
            text, _, _ = describe_network_error(e)
            raise SourceError(f"{text} at byte {received}", retryable=True) from None
        finally:
            progress.stop()
    if total is not None and received != total:
        raise SourceError(f"connection closed at byte {received} of {total}", retryable=True)
    return _finish(dest, hasher, received, sha256, size, resumed_from)


def fetch_url(url: str, dest: str | os.PathLike[str], *, sha256: str = "", size: int = 0,
              policy: RetryPolicy | None = None, progress: Progress | None = None,
              label: str = "", on_retry=None) -> Fetched:
    """Download `url` to `dest` (renamed into place only once complete and matching `sha256`).

    Raises SourceError with a short summary when the source cannot deliver the file; the partial
    file is kept for a later resume unless its content is known to be wrong.
    `on_retry(attempt, error, delay)` is called before each retry sleep (for log lines).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    policy = policy or RetryPolicy()
    progress = progress or NullProgress()
    for attempt in range(policy.tries):
        try:
            return _attempt(url, dest, sha256, size, policy.timeout, progress, label or dest.name)
        except SourceError as e:
            if not e.retryable or attempt == policy.tries - 1:
                if e.retryable:
                    e.summary = f"{e.summary} (after {policy.tries} tries)"
                    e.args = (e.summary,)
                raise
            delay = policy.delay(attempt)
            if on_retry is not None:
                on_retry(attempt + 1, e, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")
