"""Does a stored video or image decode? The check `clpbert datasets prepare` runs on each file.

Without it random bytes, an empty file or a text file named `.mp4` were registered as videos and
only found, one skipped item at a time, by training. Native decoders (decord, FFmpeg) print a
broken file's raw bytes to the process's stderr; `quiet_native_stderr` sends file descriptor 2 to
/dev/null for the duration, so the user sees one clean reason per file instead.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Silence what C libraries write to fd 2 (Python's own sys.stderr writes are flushed first)."""
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no fd 2 (some embedded hosts): nothing to silence
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def check_decodes(data: bytes, ext: str) -> None:
    """Raise VideoDecodeError (a short reason) unless the bytes open and yield a first frame."""
    from clpbert.data.decode import VideoDecodeError, decode_image, open_video, read_indices
    from clpbert.data.vis_db import IMAGE_EXTS

    if not data:
        raise VideoDecodeError("empty file")
    with quiet_native_stderr():
        if ext in IMAGE_EXTS:
            decode_image(data)
            return
        source = open_video(data, ext)
        if source.num_frames is not None and source.num_frames <= 0:
            raise VideoDecodeError("no frames")
        read_indices(source, [0])
