"""Fixtures for the data tests: a tiny local tokenizer, generated videos, real videos packed in LMDBs."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

WORDS = ["a", "the", "man", "woman", "dog", "cat", "is", "are", "on", "in", "what", "who", "how",
         "where", "when", "red", "blue", "green", "video", "shows", "runs", "sits", "plays",
         "ball", "car", "flap", "wings", "talk", "fall", "over", "holds", "phone", "cookie", "two",
         "yes", "no", "of", "to", "and", "stuff", "marshmallow", "towards", "face", "does", "do"]


def write_vocab(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", "?", ",", *WORDS]
    (path / "vocab.txt").write_text("\n".join(tokens) + "\n")
    return path


def make_mp4(colors: list[tuple[int, int, int]], size: tuple[int, int] = (64, 48), fps: int = 10,
             frames_per_color: int = 5, gop: int = 12) -> bytes:
    """An H.264 mp4 (yuv420p) showing each RGB colour for `frames_per_color` frames. size = (W, H)."""
    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = size[0], size[1], "yuv420p"
        s.codec_context.gop_size = gop
        s.options = {"preset": "ultrafast", "tune": "zerolatency"}
        for rgb in colors:
            arr = np.zeros((size[1], size[0], 3), np.uint8)
            arr[...] = rgb
            for _ in range(frames_per_color):
                for pkt in s.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                    c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    return buf.getvalue()


@pytest.fixture(scope="session")
def tokenizer(tmp_path_factory):
    from clpbert.data.tokenizer import load_tokenizer

    return load_tokenizer(write_vocab(tmp_path_factory.mktemp("tok")))


@pytest.fixture(scope="session")
def real_videos(real_data) -> dict[str, Path]:
    vids = sorted((real_data / "videos").glob("*/*"))
    if not vids:
        pytest.skip(f"no real videos under {real_data / 'videos'}")
    return {p.stem: p for p in vids}


@pytest.fixture(scope="session")
def real_vis_db(real_videos, tmp_path_factory) -> Path:
    """The 6 real videos packed as containers into a real LMDB."""
    from clpbert.data.vis_db import pack_files

    out = tmp_path_factory.mktemp("vis") / "vis_db"
    report = pack_files(list(real_videos.values()), out)
    assert report.written == 6 and not report.failed
    return out


@pytest.fixture(scope="session")
def mp4():
    """The `make_mp4` helper (test modules cannot import conftest under --import-mode=importlib)."""
    return make_mp4
