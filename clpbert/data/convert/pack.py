"""Pack the videos/images a txt_db references into a vis_db, from a folder or a tar archive.

Only the keys the annotations reference are packed (key = `keys.media_key`, the same function the
converters used). A folder is walked recursively; a tar (any compression) is streamed member by
member with nothing extracted to disk, and a member with an absolute path or a `..` component makes
the whole archive refused (UserError). Values are the untouched container bytes, or with
`frames_fps` a frame store (JPEG frames at that rate, long side <= `max_side`; images stay
containers), or with `reencode` an H.264 mp4 shaped for sparse loading (`clpbert.data.transcode`:
long side <= `max_side`, short GOPs, fast-decode settings; GIFs and images stay as they are).
Packing is resumable: keys already in the vis_db are skipped, and the LMDB commits as it goes, so an
interrupted run keeps what it packed.

Videos that no file provides are `missing`; files that cannot be read or decoded are `failed`.
Neither is fatal here: the caller decides (`--strict`).
"""

from __future__ import annotations

import os
import posixpath
import tarfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from clpbert.data.convert.keys import is_media_file, media_ext, media_key
from clpbert.errors import UserError

Progress = Callable[[int, int], None]
"""progress(done, total): called after every needed key is settled (packed, skipped, failed)."""


@dataclass
class PackResult:
    needed: int = 0
    packed: int = 0
    """Newly written in this run."""
    already: int = 0
    """Present from an earlier run (resumed) and skipped."""
    missing: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    """(key, reason) for files that could not be read or decoded."""
    by_stem: int = 0
    """`name`-style keys filled from a file with the same stem but another extension."""

    @property
    def absent(self) -> list[str]:
        """Keys without a value in the vis_db after this run (missing + failed)."""
        return self.missing + [k for k, _ in self.failed]


def is_tar(path: Path) -> bool:
    return path.is_file() and tarfile.is_tarfile(path)


def check_member_name(archive: Path, name: str) -> None:
    """Refuse archive paths that could escape a folder (`/etc/x`, `../x`, `a/../../x`)."""
    norm = name.replace("\\", "/")
    if norm.startswith("/") or posixpath.isabs(norm) or (len(norm) > 1 and norm[1] == ":") \
            or ".." in norm.split("/"):
        raise UserError(f"{archive}: member {name!r} has an absolute path or '..'; refusing this archive "
                        "(re-create it with relative paths)")


def _store(writer, key: str, data: bytes, ext: str, frames_fps: float | None, max_side: int,
           reencode: bool = False) -> None:
    from clpbert.data.vis_db import IMAGE_EXTS, normalize_ext, pack_frames_from_video, sniff_ext

    ext = normalize_ext(ext)
    if not ext or ext == "bin":
        ext = sniff_ext(data)
    if frames_fps and ext not in IMAGE_EXTS:
        from clpbert.data.decode_check import quiet_native_stderr

        with quiet_native_stderr():
            frames, used_fps = pack_frames_from_video(data, ext, frames_fps, max_side)
        if not frames:
            raise ValueError("no frames decoded")
        writer.put_frames(key, frames, used_fps)
    elif reencode and ext not in IMAGE_EXTS and ext != "gif":  # GIF timing is uneven: kept as is
        from clpbert.data.decode_check import quiet_native_stderr
        from clpbert.data.transcode import ReencodeSettings, reencode_video

        with quiet_native_stderr():
            encoded = reencode_video(data, ReencodeSettings(max_side=max_side))
        writer.put_container(key, encoded, "mp4")
    else:
        from clpbert.data.decode_check import check_decodes

        check_decodes(data, ext)  # stored as is, but only once it opens and has a first frame
        writer.put_container(key, data, ext)


def _decode_errors() -> tuple[type[BaseException], ...]:
    """What a failed file raises (every stored file is decode-checked)."""
    from clpbert.data.decode import VideoDecodeError

    return (VideoDecodeError, OSError, ValueError)


class _Packer:
    """Settles each needed key once: already present, stored, or failed."""

    def __init__(self, writer, keys: Sequence[str], frames_fps: float | None, max_side: int,
                 progress: Progress | None, reencode: bool = False):
        self.writer = writer
        self.frames_fps = frames_fps
        self.max_side = max_side
        self.reencode = reencode
        self.progress = progress
        self.errors = _decode_errors()
        self.result = PackResult(needed=len(keys))
        self.pending: dict[str, None] = {}
        for key in keys:
            if key in writer:
                self.result.already += 1
            else:
                self.pending[key] = None
        self.done = self.result.already
        self._tick()

    def _tick(self) -> None:
        if self.progress is not None:
            self.progress(self.done, self.result.needed)

    def put(self, key: str, data: bytes, ext: str, *, by_stem: bool = False) -> None:
        try:
            _store(self.writer, key, data, ext, self.frames_fps, self.max_side, self.reencode)
        except self.errors as e:
            self.fail(key, str(e).splitlines()[0] if str(e) else type(e).__name__)
            return
        self.result.packed += 1
        self.result.by_stem += int(by_stem)
        self._settle(key)

    def fail(self, key: str, reason: str) -> None:
        self.result.failed.append((key, reason))
        self._settle(key)

    def _settle(self, key: str) -> None:
        self.pending.pop(key, None)
        self.done += 1
        self._tick()

    def finish(self) -> PackResult:
        self.result.missing = list(self.pending)
        return self.result


def _walk(folder: Path) -> Iterator[Path]:
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if is_media_file(name):
                yield Path(root) / name


def _pack_folder(packer: _Packer, folder: Path, key_style: str) -> None:
    exact: dict[str, Path] = {}
    stems: dict[str, list[Path]] = {}
    for p in _walk(folder):
        exact.setdefault(media_key(p.name, key_style), p)
        stems.setdefault(media_key(p.name, "stem"), []).append(p)
    for key in list(packer.pending):
        path, by_stem = exact.get(key), False
        if path is None and key_style == "name":
            same = stems.get(media_key(key, "stem"), [])
            path, by_stem = (same[0], True) if len(same) == 1 else (None, False)
        if path is None:
            continue
        try:
            data = path.read_bytes()
        except OSError as e:
            packer.fail(key, f"{path}: {e.strerror}")
            continue
        packer.put(key, data, media_ext(path.name), by_stem=by_stem)


def _pack_tar(packer: _Packer, archive: Path, key_style: str) -> None:
    wanted_by_stem: dict[str, list[str]] = {}
    if key_style == "name":
        for key in packer.pending:
            wanted_by_stem.setdefault(media_key(key, "stem"), []).append(key)
    filled_by_stem: set[str] = set()
    try:
        with tarfile.open(archive, mode="r|*") as tf:
            for member in tf:
                check_member_name(archive, member.name)
                if not member.isfile() or not is_media_file(member.name):
                    continue
                key = media_key(member.name, key_style)
                if key in packer.pending or key in filled_by_stem:
                    targets, by_stem = [key], False
                else:
                    stem = media_key(member.name, "stem")
                    targets = [k for k in wanted_by_stem.get(stem, []) if k in packer.pending]
                    by_stem = True
                if not targets:
                    continue
                f = tf.extractfile(member)
                data = f.read() if f is not None else b""
                for target in targets:
                    if target in filled_by_stem and not by_stem:
                        # the exact file arrived after a same-stem stand-in: it wins
                        filled_by_stem.discard(target)
                        packer.result.by_stem -= 1
                        packer.result.packed -= 1
                        packer.done -= 1
                    packer.put(target, data, media_ext(member.name), by_stem=by_stem)
                    if by_stem:
                        filled_by_stem.add(target)
    except tarfile.TarError as e:
        raise UserError(f"{archive} is not a readable tar archive ({e}); pass a folder or a .tar/.tar.gz") \
            from None


def pack_videos(source: Path, vis_db_path: Path, keys: Iterable[str], *, key_style: str = "stem",
                frames_fps: float | None = None, max_side: int = 768,
                progress: Progress | None = None, reencode: bool = False) -> PackResult:
    """Pack the media files for `keys` from a folder or tar into the vis_db at `vis_db_path`."""
    from clpbert.data.vis_db import VisDBWriter

    keys = list(dict.fromkeys(keys))
    if not (source.is_dir() or is_tar(source)):
        raise UserError(f"--videos {source}: expected a folder of videos or a tar archive")
    with VisDBWriter(vis_db_path) as writer:
        packer = _Packer(writer, keys, frames_fps, max_side, progress, reencode)
        if packer.pending:
            if source.is_dir():
                _pack_folder(packer, source, key_style)
            else:
                _pack_tar(packer, source, key_style)
        return packer.finish()
