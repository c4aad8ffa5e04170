"""Turning fetched bytes into an installed artifact: safe tar extraction, hashed copies, tree digests.

Archives come from the network, so no member may land outside the extraction folder: absolute
names, `..` parts, links pointing outside and device files are refused before anything is written
(and tarfile's `filter="data"` is applied on top). Extraction goes into a temporary sibling folder
that the caller renames into place, so a refused or interrupted archive leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tarfile
from pathlib import Path, PurePosixPath

from clpbert.fileio import fsync_dir
from clpbert.hub.download import CHUNK, SourceError


class UnsafeArchiveError(SourceError):
    """An archive member would escape the destination; nothing was extracted."""


def _escapes(path: PurePosixPath) -> bool:
    return path.is_absolute() or ".." in path.parts


def _norm(parts: PurePosixPath) -> PurePosixPath | None:
    """Lexically resolve `..` inside the archive root; None when it climbs above the root."""
    out: list[str] = []
    for p in parts.parts:
        if p in ("", "."):
            continue
        if p == "..":
            if not out:
                return None
            out.pop()
        else:
            out.append(p)
    return PurePosixPath(*out)


def check_member(member: tarfile.TarInfo) -> None:
    """Raise UnsafeArchiveError when extracting `member` could write outside the destination."""
    name = PurePosixPath(member.name)
    windows_abs = member.name.startswith("\\") or (len(member.name) > 1 and member.name[1] == ":")
    if _escapes(name) or windows_abs:
        raise UnsafeArchiveError(f"unsafe archive: member {member.name!r} escapes the destination")
    if member.issym():
        target = PurePosixPath(member.linkname)
        if target.is_absolute() or _norm(name.parent / target) is None:
            raise UnsafeArchiveError(f"unsafe archive: symlink {member.name!r} -> {member.linkname!r} "
                                     "points outside the destination")
    elif member.islnk():
        target = PurePosixPath(member.linkname)
        if target.is_absolute() or _norm(target) is None:
            raise UnsafeArchiveError(f"unsafe archive: hard link {member.name!r} -> {member.linkname!r} "
                                     "points outside the destination")
    elif not (member.isfile() or member.isdir()):
        raise UnsafeArchiveError(f"unsafe archive: member {member.name!r} is a device or fifo")


def extract_tar(archive: Path, into: Path) -> Path:
    """Extract `archive` into the new folder `into` (must not exist) and return the artifact root.

    The root is `into` itself, or its single top-level folder when the archive wraps everything in
    one (the original `bert-base-uncased.tar` unpacks to `bert-base-uncased/`).
    """
    try:
        tf = tarfile.open(archive)  # noqa: SIM115 (closed by the `with tf` below)
    except (tarfile.TarError, OSError) as e:
        raise SourceError(f"not a readable tar archive ({e})") from None
    into.mkdir(parents=True)
    try:
        with tf:
            members = tf.getmembers()
            for m in members:
                check_member(m)
            try:
                tf.extractall(into, members=members, filter="data")
            except tarfile.FilterError as e:
                raise UnsafeArchiveError(f"unsafe archive: {e}") from None
    except BaseException:
        shutil.rmtree(into, ignore_errors=True)
        raise
    entries = [p for p in into.iterdir() if p.name not in (".DS_Store",)]
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else into


def copy_hashed(src: Path, dest: Path) -> tuple[str, int]:
    """Copy a file to `dest` via a temp file, fsynced, returning (sha256, size) of what was written."""
    hasher = hashlib.sha256()
    tmp = dest.with_name(dest.name + ".part")
    size = 0
    with src.open("rb") as fin, tmp.open("wb") as fout:
        while chunk := fin.read(CHUNK):
            fout.write(chunk)
            hasher.update(chunk)
            size += len(chunk)
        fout.flush()
        os.fsync(fout.fileno())
    os.replace(tmp, dest)
    return hasher.hexdigest(), size


def file_sha256(path: Path) -> tuple[str, int]:
    hasher = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            hasher.update(chunk)
            size += len(chunk)
    return hasher.hexdigest(), size


def tree_digest(root: Path) -> tuple[str, int]:
    """(sha256, total bytes) of a folder: the sha256 of its `sha256sum`-style listing, sorted by path.

    Stable across machines and copy tools, so a manifest can pin a BERT directory as one value.
    """
    lines = []
    total = 0
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.is_symlink():
            digest, size = file_sha256(p)
            total += size
            lines.append(f"{digest}  {p.relative_to(root).as_posix()}\n")
    return hashlib.sha256("".join(lines).encode()).hexdigest(), total


def artifact_digest(path: Path) -> tuple[str, int]:
    return tree_digest(path) if path.is_dir() else file_sha256(path)


def install_into(staged: Path, dest: Path) -> None:
    """Move a verified file or folder to `dest`, replacing an old one only after the new one is whole."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not dest.exists() and not dest.is_symlink():
        os.replace(staged, dest)
    else:
        old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
        os.replace(dest, old)
        try:
            os.replace(staged, dest)
        except BaseException:
            os.replace(old, dest)
            raise
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                old.unlink()
    fsync_dir(dest.parent)
