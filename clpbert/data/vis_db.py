"""The visual store (vis_db): an LMDB keyed by video/image id, holding containers or pre-sampled frames.

Key = the file stem as UTF-8 (`video2960`, `tumblr_nk172bbdPI1u1lr18o1_250`, `000000397133`); it must
equal `clip_name` / `video_id` / `gif_name` / `coco_id` / `vg_id` / `image_id` in the txt_db.

Value format (self-describing, so one LMDB may mix kinds)::

    b"CBV1" | kind (1 byte: b"C" container, b"F" frames) | header length (uint32 LE) | JSON header | payload

* container (`C`): header `{"ext": "mp4"}`; payload = the untouched file bytes (mp4/webm/avi/gif/jpg/png).
* frames (`F`): header `{"fps", "n", "sizes", "timestamps", "width", "height"}`; payload = the n JPEG
  frames concatenated (frame i = payload[sum(sizes[:i]) : sum(sizes[:i+1])]). Frames were sampled at a
  fixed `fps` (timestamps in seconds) and resized so the long side is at most the task size; loading then
  costs a few small JPEG decodes instead of a video decode (and runs on the GPU with nvJPEG).

A value without the magic (an LMDB built by the original `file2lmdb.py`: raw file bytes) reads as a
container whose extension is sniffed from the bytes, so original vis_dbs work unchanged.

Reading (`VisDB`) opens the LMDB lazily on first access, once per process (the pid is recorded and the
environment reopened after a fork), readonly without locks or readahead, so DataLoader workers each get
their own handle and the parent never holds one across fork. Writing (`VisDBWriter`) is a context
manager that commits every `commit_every` puts; `key in writer` lets a packing job resume.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clpbert.errors import UserError

MAGIC = b"CBV1"
KIND_CONTAINER = b"C"
KIND_FRAMES = b"F"
_HEAD = struct.Struct("<4scI")  # magic, kind, header length

IMAGE_EXTS = frozenset({"jpg", "jpeg", "png", "bmp", "webp"})
VIDEO_EXTS = frozenset({"mp4", "webm", "avi", "mkv", "mov", "m4v", "mpg", "mpeg", "3gp", "wmv", "flv", "gif"})

DEFAULT_MAP_SIZE = 1 << 40  # 1 TiB of address space; the file only grows with the data on Linux.
_FIX = "build it with `clpbert datasets prepare NAME` or point data.vis_db at an existing LMDB directory"


class MissingVideoError(KeyError):
    """A txt_db id has no entry in the vis_db (the item is skipped and counted, not fatal)."""


@dataclass
class VisRecord:
    """One decoded-from-LMDB value (not yet decoded pixels).

    kind `container`: `data` holds the file bytes and `ext` its extension.
    kind `frames`: `frames` holds one JPEG per sampled frame, taken at `fps` (times in `timestamps`).
    """

    key: str
    kind: str
    ext: str
    data: bytes | None = None
    frames: list[bytes] | None = None
    fps: float | None = None
    timestamps: list[float] | None = None
    width: int | None = None
    height: int | None = None

    @property
    def is_image(self) -> bool:
        return self.kind == "container" and self.ext in IMAGE_EXTS

    @property
    def num_frames(self) -> int | None:
        return len(self.frames) if self.frames is not None else None


# ----------------------------------------------------------------------------------------------
# Value encoding
# ----------------------------------------------------------------------------------------------


def encode_container(data: bytes, ext: str) -> bytes:
    header = json.dumps({"ext": normalize_ext(ext)}).encode()
    return _HEAD.pack(MAGIC, KIND_CONTAINER, len(header)) + header + bytes(data)


def encode_frames(jpeg_frames: list[bytes], fps: float, timestamps: list[float] | None = None,
                  width: int | None = None, height: int | None = None) -> bytes:
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    sizes = [len(f) for f in jpeg_frames]
    times = list(timestamps) if timestamps is not None else [i / fps for i in range(len(sizes))]
    if len(times) != len(sizes):
        raise ValueError("one timestamp per frame")
    header = json.dumps({"fps": float(fps), "n": len(sizes), "sizes": sizes,
                         "timestamps": [round(t, 6) for t in times], "width": width,
                         "height": height}).encode()
    return _HEAD.pack(MAGIC, KIND_FRAMES, len(header)) + header + b"".join(bytes(f) for f in jpeg_frames)


def decode_value(key: str, value: bytes) -> VisRecord:
    """Parse one LMDB value (either kind, or a raw original-style value)."""
    if len(value) >= _HEAD.size and value[:4] == MAGIC:
        _, kind, hlen = _HEAD.unpack_from(value)
        start = _HEAD.size
        header = json.loads(bytes(value[start:start + hlen]))
        payload = memoryview(value)[start + hlen:]
        if kind == KIND_CONTAINER:
            return VisRecord(key=key, kind="container", ext=header["ext"], data=bytes(payload))
        if kind == KIND_FRAMES:
            frames, pos = [], 0
            for size in header["sizes"]:
                frames.append(bytes(payload[pos:pos + size]))
                pos += size
            return VisRecord(key=key, kind="frames", ext="jpg", frames=frames, fps=float(header["fps"]),
                             timestamps=list(header["timestamps"]), width=header.get("width"),
                             height=header.get("height"))
        raise ValueError(f"vis_db value for {key!r} has unknown kind {kind!r}")
    return VisRecord(key=key, kind="container", ext=sniff_ext(value), data=bytes(value))


def normalize_ext(ext: str) -> str:
    ext = ext.lower().lstrip(".")
    return "jpg" if ext == "jpeg" else ext


def sniff_ext(data: bytes) -> str:
    """Guess a container's extension from its first bytes (for values written by the original tool)."""
    head = bytes(data[:16])
    if head[:3] == b"\xff\xd8\xff":
        return "jpg"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[4:8] == b"ftyp":
        return "mp4"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "webm"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return "bin"


# ----------------------------------------------------------------------------------------------
# Reader
# ----------------------------------------------------------------------------------------------


def check_lmdb_dir(path: Path, what: str = "vis_db") -> None:
    """One clear UserError when `path` is not an LMDB directory."""
    if not path.is_dir():
        raise UserError(f"{what} {path} does not exist; {_FIX}")
    if not (path / "data.mdb").is_file():
        raise UserError(f"{what} {path} is not an LMDB directory (no data.mdb inside); {_FIX}")


_OPEN_ENVS: dict[str, tuple[int, Any]] = {}
"""realpath -> (pid, lmdb env): one read handle per LMDB per process (lmdb refuses a second open)."""


def _shared_env(path: Path) -> Any:
    import lmdb

    key, pid = os.path.realpath(path), os.getpid()
    hit = _OPEN_ENVS.get(key)
    if hit is not None and hit[0] == pid:
        return hit[1]
    if hit is not None:
        # Inherited over fork. Never use it; closing the child's copy (readonly, lock=False: an munmap
        # and a close of the child's fd) is safe and lets lmdb open the path again in this process.
        hit[1].close()
    env = lmdb.open(str(path), readonly=True, lock=False, readahead=False, create=False, subdir=True,
                    max_readers=4096, meminit=False)
    _OPEN_ENVS[key] = (pid, env)
    return env


def release_env(path: str | os.PathLike[str]) -> None:
    """Close this process's read handle on `path` (needed before writing it in the same process)."""
    hit = _OPEN_ENVS.pop(os.path.realpath(path), None)
    if hit is not None and hit[0] == os.getpid():
        hit[1].close()


class VisDB:
    """Lazy, fork-safe, read-only access to a vis_db LMDB.

    Construction only checks the directory; the LMDB is opened on the first `get`/`in`/`keys` in each
    process and shared by every VisDB of the same path in that process (train and val datasets often
    share one vis_db). Pickling carries only the path, so the object can go to spawned workers too.
    """

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        check_lmdb_dir(self.path)
        self._pid: int | None = None

    def _lmdb(self) -> Any:
        env = _shared_env(self.path)
        self._pid = os.getpid()
        return env

    @property
    def is_open(self) -> bool:
        """True when this object has used a handle in this process (tests: the parent holds none)."""
        return self._pid == os.getpid()

    def close(self) -> None:
        """Close the process's handle on this path (other VisDBs of the path reopen on next use)."""
        if self.is_open:
            release_env(self.path)
        self._pid = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_pid"] = None
        return state

    def get_bytes(self, key: str) -> bytes | None:
        """The raw stored value, or None."""
        with self._lmdb().begin(buffers=False) as txn:
            return txn.get(key.encode("utf-8"))

    def get(self, key: str) -> VisRecord:
        """The record for `key`; MissingVideoError (a KeyError) if absent."""
        value = self.get_bytes(key)
        if value is None:
            raise MissingVideoError(key)
        return decode_value(key, value)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        with self._lmdb().begin(buffers=True) as txn:
            return txn.get(key.encode("utf-8")) is not None

    def keys(self) -> Iterator[str]:
        with self._lmdb().begin(buffers=False) as txn:
            for k in txn.cursor().iternext(keys=True, values=False):
                yield k.decode("utf-8")

    def __len__(self) -> int:
        return int(self._lmdb().stat()["entries"])

    def __repr__(self) -> str:
        return f"VisDB({str(self.path)!r})"


# ----------------------------------------------------------------------------------------------
# Writer
# ----------------------------------------------------------------------------------------------


class VisDBWriter:
    """Append/overwrite values in a vis_db LMDB; use as `with VisDBWriter(path) as w: ...`.

    Puts go into one write transaction that is committed every `commit_every` puts and on exit (also
    on an exception, so everything put so far is kept and a rerun can skip it via `key in w`).
    """

    def __init__(self, path: str | os.PathLike[str], map_size: int = DEFAULT_MAP_SIZE,
                 commit_every: int = 256):
        self.path = Path(path)
        self.map_size = map_size
        self.commit_every = max(1, commit_every)
        self._env = None
        self._txn = None
        self._pending = 0
        self.n_put = 0

    def __enter__(self) -> VisDBWriter:
        import lmdb

        self.path.mkdir(parents=True, exist_ok=True)
        release_env(self.path)  # a reader handle in this process would block the writer's open
        self._env = lmdb.open(str(self.path), map_size=self.map_size, subdir=True, meminit=False,
                              max_dbs=0, readahead=False)
        self._txn = self._env.begin(write=True)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._env is None:
            return
        if self._txn is not None:
            self._txn.commit()
            self._txn = None
        self._env.sync(True)
        self._env.close()
        self._env = None

    def _require_open(self):
        if self._txn is None:
            raise RuntimeError("VisDBWriter is not open; use it as a context manager")
        return self._txn

    @staticmethod
    def _key(key: str) -> bytes:
        raw = key.encode("utf-8")
        if not raw or len(raw) > 511:
            raise ValueError(f"vis_db key must be 1..511 UTF-8 bytes, got {key!r}")
        return raw

    def put_value(self, key: str, value: bytes) -> None:
        """Store an already-encoded value (or raw original-style bytes)."""
        self._require_open().put(self._key(key), value)
        self.n_put += 1
        self._pending += 1
        if self._pending >= self.commit_every:
            self.commit()

    def commit(self) -> None:
        txn = self._require_open()
        txn.commit()
        self._txn = self._env.begin(write=True)
        self._pending = 0

    def put_container(self, key: str, data: bytes, ext: str) -> None:
        """Store a file's bytes untouched (video container or image) with its extension."""
        self.put_value(key, encode_container(data, ext))

    def put_frames(self, key: str, jpeg_frames: list[bytes], fps: float,
                   timestamps: list[float] | None = None, width: int | None = None,
                   height: int | None = None) -> None:
        """Store JPEG frames sampled at `fps` (frame i at timestamps[i], default i/fps)."""
        self.put_value(key, encode_frames(jpeg_frames, fps, timestamps, width, height))

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        return self._require_open().get(key.encode("utf-8")) is not None


# ----------------------------------------------------------------------------------------------
# Packing helpers
# ----------------------------------------------------------------------------------------------


def pack_frames_from_video(data: bytes, ext: str, fps: float, max_side: int,
                           quality: int = 90) -> tuple[list[bytes], float]:
    """Decode a container once and return (JPEG frames sampled at `fps`, the fps actually used).

    Frames are taken at t = 0, 1/fps, 2/fps ... (nearest source frame); a source slower than `fps`
    keeps every frame and reports its own rate. Frames are shrunk (never enlarged) so the long side is
    at most `max_side`, keeping the aspect ratio; padding is left to load time. Raises VideoDecodeError.
    """
    import torchvision.io as tio

    from clpbert.data.decode import quiet_tv_image_io, sample_video_at_fps
    from clpbert.data.transforms import shrink_to_max_side

    frames, used_fps = sample_video_at_fps(data, ext, fps)  # uint8 (n, 3, H, W)
    frames = shrink_to_max_side(frames, max_side)
    if frames.shape[0] == 0:
        return [], used_fps
    with quiet_tv_image_io():
        jpegs = tio.encode_jpeg([f.contiguous() for f in frames.unbind(0)], quality=quality)
    return [j.numpy().tobytes() for j in jpegs], used_fps


@dataclass
class PackReport:
    """What `pack_files` did: counts plus the files that failed (with the reason)."""

    written: int = 0
    skipped_existing: int = 0
    failed: list[tuple[str, str]] | None = None


def pack_files(paths: list[str | os.PathLike[str]], vis_db_path: str | os.PathLike[str], *,
               frame_store: bool = False, fps: float = 2.0, max_side: int = 448, resume: bool = True,
               map_size: int = DEFAULT_MAP_SIZE) -> PackReport:
    """Pack video/image files into a vis_db keyed by file stem (like the original's file2lmdb).

    `frame_store=True` stores videos as pre-sampled JPEG frames (`fps`, long side <= `max_side`);
    images are always stored as containers. With `resume`, keys already present are skipped.
    A file that cannot be read or decoded is reported in `failed`, never fatal.
    """
    from clpbert.data.decode import VideoDecodeError

    report = PackReport(failed=[])
    with VisDBWriter(vis_db_path, map_size=map_size) as w:
        for p in map(Path, paths):
            key, ext = p.stem, normalize_ext(p.suffix)
            if resume and key in w:
                report.skipped_existing += 1
                continue
            try:
                data = p.read_bytes()
                if frame_store and ext not in IMAGE_EXTS:
                    jpegs, used = pack_frames_from_video(data, ext, fps, max_side)
                    if not jpegs:
                        raise VideoDecodeError(f"{p}: no frames")
                    w.put_frames(key, jpegs, used)
                else:
                    w.put_container(key, data, ext)
                report.written += 1
            except (OSError, VideoDecodeError) as e:
                report.failed.append((str(p), str(e)))
    return report
