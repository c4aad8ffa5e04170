"""Install one artifact: try its sources in order, verify, move into place, register, inspect.

Everything is staged in `.<dest>.download/` beside the destination (same filesystem, so the final
move is an atomic rename), and that folder keeps partial downloads for a later resume. Only an
artifact that passed the checksum (when known) and the structure check reaches the destination and
the registry. When every source fails the error is ONE line listing each source's reason and
pointing at `--from`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clpbert.errors import NotFoundError, UserError
from clpbert.hub.download import Progress, RetryPolicy, SourceError, fetch_url
from clpbert.hub.manifest import TAR_SUFFIXES, Artifact, Source
from clpbert.hub.unpack import artifact_digest, copy_hashed, extract_tar, install_into
from clpbert.hub.verify import StructureReport, VerifyError, check_structure

INSPECT_TASK = "pretrain"
"""Artifacts are checked against the pretraining model: it holds every part (CNN, BERT, MLM/ITM heads)."""


class DownloadError(UserError):
    """No source could deliver a verified artifact. Exit code 2 at the CLI edge, one line."""

    def __init__(self, message: str, *, offline: bool = False, reasons: str = ""):
        super().__init__(message)
        self.offline = offline
        """Every source was unreachable (no network): `--from` is the way forward."""
        self.reasons = reasons


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr)


@dataclass
class Installed:
    """What `clpbert download` reports for one artifact."""

    artifact: str
    kind: str
    path: Path
    sha256: str
    size: int
    source: str
    structure: StructureReport
    already_present: bool = False
    resumed_from: int = 0
    checkpoint: dict[str, Any] | None = None
    """The registered Checkpoint (its to_dict()), None when registration was skipped."""
    inspect: dict[str, Any] | None = None
    """The model loader's view (inspect_checkpoint), None when unavailable."""
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"artifact": self.artifact, "kind": self.kind, "path": str(self.path),
                "sha256": self.sha256, "size": self.size, "source": self.source,
                "structure": self.structure.line(), "already_present": self.already_present,
                "resumed_from": self.resumed_from, "checkpoint": self.checkpoint, "inspect": self.inspect,
                "notes": self.notes}


def default_dest(artifact: Artifact) -> Path:
    from clpbert import paths

    return paths.pretrained_dir() / artifact.name


def target_path(artifact: Artifact, dest: Path) -> Path:
    """The installed file (layout file: DEST/filename) or folder (layout dir: DEST)."""
    return dest / artifact.filename if artifact.layout == "file" else dest


def source_for_from(value: str) -> Source:
    """`--from` value -> a Source: an http(s) URL, or a local file/folder (also `file://`)."""
    if value.startswith(("http://", "https://")):
        return Source(value, unpack="tar" if value.lower().split("?")[0].endswith(TAR_SUFFIXES) else "file")
    if value.startswith("hf://"):
        return Source(value, unpack="hf-repo")
    path = (_file_uri_path(value) if value.startswith("file://") else Path(value)).expanduser()
    if not path.exists():
        raise NotFoundError(f"--from {value}: no such file or folder")
    return Source(path.resolve().as_uri(), unpack="local")


def _file_uri_path(uri: str) -> Path:
    return Path(urllib.parse.unquote(urllib.parse.urlparse(uri).path))


def _basename(url: str, fallback: str) -> str:
    name = Path(urllib.parse.urlparse(url).path).name
    return name or fallback


def _find_file(root: Path, filename: str) -> Path:
    """The artifact file inside an unpacked folder (a tar or a --from folder holding it)."""
    if (root / filename).is_file():
        return root / filename
    hits = sorted(p for p in root.rglob(filename) if p.is_file())
    if not hits:
        raise VerifyError(f"no {filename} inside {root.name}")
    return hits[0]


@dataclass
class _Staged:
    path: Path
    digest: str = ""
    size: int = 0
    resumed_from: int = 0


class _Installer:
    def __init__(self, artifact: Artifact, staging: Path, policy: RetryPolicy, progress: Progress,
                 note: Callable[[str], None], quiet_hub: bool):
        self.artifact, self.staging, self.policy = artifact, staging, policy
        self.progress, self.note, self.quiet_hub = progress, note, quiet_hub

    def obtain(self, source: Source) -> _Staged:
        """Fetch/copy/unpack one source into the staging folder; the artifact file or folder."""
        art = self.artifact
        if source.unpack == "local":
            return self._local(_file_uri_path(source.url))
        if source.unpack == "hf-repo":
            from clpbert.hub.hf import fetch_hf

            if art.layout != "dir":
                raise SourceError("a hub repository can only provide a folder artifact")
            tree = self.staging / "hf"
            shutil.rmtree(tree, ignore_errors=True)
            return _Staged(fetch_hf(source, tree, quiet=self.quiet_hub))

        def on_retry(n: int, err: SourceError, delay: float) -> None:
            self.note(f"{art.name}: {source.describe()}: {err.summary}; retry {n} in {delay:g}s")

        if source.unpack == "tar":
            fetched = fetch_url(source.url, self.staging / _basename(source.url, "archive.tar"),
                                sha256=source.sha256, size=source.size, policy=self.policy,
                                progress=self.progress, label=f"{art.name}", on_retry=on_retry)
            try:
                staged = self._untar(fetched.path)
            finally:
                fetched.path.unlink()  # like the original scripts: the archive is not kept
            staged.resumed_from = fetched.resumed_from
            return staged
        if art.layout == "dir":
            raise SourceError("a single file cannot be a folder artifact (expected a .tar or hf://)")
        fetched = fetch_url(source.url, self.staging / art.filename, sha256=source.sha256 or art.sha256,
                            size=source.size or art.size, policy=self.policy, progress=self.progress,
                            label=art.name, on_retry=on_retry)
        return _Staged(fetched.path, fetched.sha256, fetched.size, fetched.resumed_from)

    def _untar(self, archive: Path) -> _Staged:
        tree = self.staging / "tree"
        shutil.rmtree(tree, ignore_errors=True)
        root = extract_tar(archive, tree)
        if self.artifact.layout == "file":
            return _Staged(_find_file(root, self.artifact.filename))
        return _Staged(root)

    def _local(self, path: Path) -> _Staged:
        art = self.artifact
        if path.is_dir():
            if art.layout == "file":
                path = _find_file(path, art.filename)
            else:
                tree = self.staging / "copy"
                shutil.rmtree(tree, ignore_errors=True)
                shutil.copytree(path, tree, symlinks=False)
                return _Staged(tree)
        if path.name.lower().endswith(TAR_SUFFIXES):
            return self._untar(path)
        if art.layout == "dir":
            raise SourceError(f"{path.name} is a file; a {art.kind} artifact needs a folder or a .tar")
        digest, size = copy_hashed(path, self.staging / art.filename)
        return _Staged(self.staging / art.filename, digest, size)


def _discard(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _reasons(failures: list[tuple[Source, SourceError]]) -> str:
    return "; ".join(f"{s.describe()}: {e.summary}" for s, e in failures)


def _fail_line(artifact: Artifact, failures: list[tuple[Source, SourceError]], from_: str | None) -> str:
    reasons = _reasons(failures)
    if from_:
        return f"could not install {artifact.name} from {from_}: {failures[-1][1].summary}"
    if all(e.offline for _, e in failures):
        return (f"no network: no source for {artifact.name} is reachable ({reasons}); copy the file from a "
                f"machine that has it and run `clpbert download {artifact.name} --from PATH`")
    hint = f" — {artifact.note}" if artifact.note else ""
    return (f"could not download {artifact.name}: {reasons}{hint}; "
            f"or pass `--from PATH|URL` (a file, folder or .tar you already have)")


def _verify(artifact: Artifact, staged: _Staged, inspect: bool) -> tuple[str, int, StructureReport, Any]:
    """Checksum (when the manifest knows it), safe-load structure, then the model's own loader view."""
    digest, size = (staged.digest, staged.size) if staged.digest else artifact_digest(staged.path)
    if artifact.sha256 and digest != artifact.sha256:
        raise VerifyError(f"sha256 mismatch (got {digest[:12]}…, expected {artifact.sha256[:12]}…)")
    structure = check_structure(staged.path, artifact.kind)
    return digest, size, structure, inspect_staged(staged.path) if inspect else None


def inspect_staged(path: Path) -> dict[str, Any] | None:
    """What of `path` would load into the pretraining ClipBERT (the model's `inspect_checkpoint`).

    Refuses a file of which nothing loads, or whose model-body tensors have the wrong shapes: such a
    file would silently leave the model at its random initialisation.
    """
    try:
        from clpbert.model.weights import HEAD_PREFIXES, inspect_checkpoint
    except ImportError:
        return None
    try:
        report = inspect_checkpoint(path, INSPECT_TASK)
    except UserError as e:
        raise VerifyError(str(e)) from None
    body = [m for m in report.mis_shaped if not m[0].startswith(HEAD_PREFIXES)]
    if body:
        key, got, want = body[0]
        raise VerifyError(f"{path.name} does not fit ClipBERT: {key} has shape {list(got)}, "
                          f"the model expects {list(want)} ({len(body)} such tensors)")
    if not report.loaded:
        raise VerifyError(f"nothing in {path.name} would load into ClipBERT (format {report.format}, "
                          f"{len(report.unused)} unknown tensors)")
    return {"task": report.task, "format": report.format, "counts": report.counts,
            "missing": report.missing[:20], "mis_shaped": [list(m) for m in report.mis_shaped]}


def install(artifact: Artifact, *, dest: str | os.PathLike[str] | None = None, from_: str | None = None,
            force: bool = False, register: bool = True, inspect: bool = True,
            policy: RetryPolicy | None = None, progress: Progress | None = None,
            note: Callable[[str], None] = _stderr, quiet_hub: bool = True) -> Installed:
    """Make `artifact` present at DEST (default pretrained_dir()/<name>), verified and registered."""
    from clpbert.hub.download import NullProgress

    dest_dir = Path(dest).expanduser().resolve() if dest else default_dest(artifact)
    target = target_path(artifact, dest_dir)
    sources = [source_for_from(from_)] if from_ else list(artifact.sources)
    policy = policy or RetryPolicy.from_env()

    if target.exists() and not force and not from_:
        digest, size, structure, report = _verify(artifact, _Staged(target), inspect)
        done = Installed(artifact.name, artifact.kind, target, digest, size, "", structure,
                         already_present=True, inspect=report)
        return _finish(done, register)

    staging = dest_dir.parent / f".{dest_dir.name}.download"
    with _exclusive(dest_dir, artifact.name):
        installer = _Installer(artifact, staging, policy, progress or NullProgress(), note, quiet_hub)
        done = _from_sources(artifact, sources, staging, target, force, inspect, from_, installer)
    for line in done.notes:
        note(line)
    done.notes = []
    return _finish(done, register)


@contextlib.contextmanager
def _exclusive(dest_dir: Path, name: str) -> Iterator[None]:
    """One download per destination at a time (two would write the same .part file)."""
    import hashlib

    from filelock import FileLock, Timeout

    from clpbert import paths

    locks = paths.cache_dir() / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(locks / f"download-{hashlib.sha1(str(dest_dir).encode()).hexdigest()[:16]}.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise UserError(f"another `clpbert download {name}` is writing {dest_dir}; wait for it to finish") \
            from None
    try:
        yield
    finally:
        lock.release()


def _from_sources(artifact: Artifact, sources: list[Source], staging: Path, target: Path, force: bool,
                  inspect: bool, from_: str | None, installer: _Installer) -> Installed:
    """Try each source until one yields a verified artifact; install it at `target`."""
    if force:
        shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True, exist_ok=True)
    failures: list[tuple[Source, SourceError]] = []
    for source in sources:
        staged = None
        try:
            staged = installer.obtain(source)
            digest, size, structure, report = _verify(artifact, staged, inspect)
        except SourceError as e:
            if staged is not None:
                _discard(staged.path)
            failures.append((source, e))
            continue
        if artifact.layout == "file" and staged.path.parent != staging:
            os.replace(staged.path, staging / artifact.filename)  # lift a file found inside a tar
            staged.path = staging / artifact.filename
        target.parent.mkdir(parents=True, exist_ok=True)
        install_into(staged.path, target)
        shutil.rmtree(staging, ignore_errors=True)
        origin = source.url if source.unpack != "hf-repo" else f"{source.url}@{source.revision}"
        # told only on success: on failure the error line lists every source's reason
        skipped = [f"{artifact.name}: skipped {s.describe()}: {e.summary}" for s, e in failures]
        return Installed(artifact.name, artifact.kind, target, digest, size, origin, structure,
                         resumed_from=staged.resumed_from, inspect=report, notes=skipped)
    if not any(p.name.endswith(".part") for p in staging.iterdir()):
        shutil.rmtree(staging, ignore_errors=True)  # keep the folder only when a resume is possible
    raise DownloadError(_fail_line(artifact, failures, from_), offline=all(e.offline for _, e in failures),
                        reasons=_reasons(failures))


def _finish(done: Installed, register: bool) -> Installed:
    if done.inspect is None:
        done.notes.append("not checked against the model (clpbert.model.weights unavailable)")
    if register:
        done.checkpoint = register_checkpoint(done)
    return done


def register_checkpoint(done: Installed) -> dict[str, Any]:
    """Add (or refresh) the registry's Checkpoint row named after the artifact."""
    from clpbert.registry import open_registry

    with open_registry() as reg:
        if not done.source:  # already present: keep the recorded origin when the bytes are the same
            try:
                old = reg.get_checkpoint(done.artifact)
                done.source = old.source if old.sha256 == done.sha256 else ""
            except UserError:
                pass
        ckpt = reg.add_checkpoint(done.path, name=done.artifact, kind=done.kind, source=done.source,
                                  sha256=done.sha256, size=done.size, replace=True,
                                  notes=done.structure.line())
    return ckpt.to_dict()
