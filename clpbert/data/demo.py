"""Synthetic video QA for `clpbert demo`: coloured shapes drifting over a background.

Everything is generated locally (nothing is downloaded) and goes through the same formats and code
paths as a real dataset:

* every video is rendered with numpy, encoded as a real H.264 mp4 (PyAV/libx264, yuv420p) and kept
  under `videos/`; it is then decoded once and packed into `vis_db/` as a frame store (JPEG frames
  at `fps`), because decoding every batch would cost ~45 % of a CPU training step;
* `txt_db/{train,val}.jsonl` hold MSRVTT-QA style records (`question`, `answer`, `video_id`,
  `answer_type`) with `ans2label.json` and `meta.json`;
* `tokenizer/` is a WordPiece vocabulary of the demo's own words (`tokenizers` WordPiece model),
  saved as a BertTokenizerFast directory with vocab.txt.

What is learnable decides the design. ClipBERT mean-pools the T frames of a clip, so the order of
frames (motion direction) is invisible; each visual token covers 64x64 input pixels, so at 128 px
the clip is a 2x2 grid. A video therefore holds 1-3 shapes of one kind and one colour, each in its
own quadrant, drifting inside it, over a plain grey equal to the model's pixel mean (a varied or
dark background gave the from-scratch CNN a large constant response that drowned the objects and
left training stuck at the answer prior for hundreds of steps). Question types:

  color     "what color is the shape?"      red, green, blue, yellow, white, purple   (default)
  count     "how many shapes are there?"    one, two, three                           (default)
  shape     "what shape is it?"             circle, square, triangle
  location  "where is the shape?"           top left, top right, bottom left, bottom right
            (videos with a single shape only)

Only colour and count are asked by default: with the demo preset they reach >= 90 % within a few
hundred steps, while shape (needs many more distinct videos) and location (the answer lives only in
the row/column position embeddings) stayed near chance within a CPU budget of minutes. Pass
`question_types=` to generate the others. Every video asks each of its question types once (one
txt_db line each); the same seed gives byte-identical txt_db, tokenizer, mp4s and frames.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

COLORS: dict[str, tuple[int, int, int]] = {
    "red": (230, 40, 40),
    "green": (40, 200, 60),
    "blue": (50, 80, 240),
    "yellow": (240, 220, 40),
    "white": (245, 245, 245),
    "purple": (170, 60, 220),
}
SHAPES = ("circle", "square", "triangle")
COUNTS = ("one", "two", "three")
LOCATIONS = ("top left", "top right", "bottom left", "bottom right")

QUESTIONS: dict[str, tuple[str, ...]] = {
    "color": ("what color is the shape?", "which color do the objects have?", "what is the color?"),
    "count": ("how many shapes are there?", "how many objects can you see?", "what is the number of shapes?"),
    "shape": ("what shape is it?", "which kind of shape is shown?", "what do the objects look like?"),
    "location": ("where is the shape?", "in which corner is the object?", "where can you see the shape?"),
}
ANSWERS: dict[str, tuple[str, ...]] = {"color": tuple(COLORS), "count": COUNTS, "shape": SHAPES,
                                       "location": LOCATIONS}
DEFAULT_TYPES = ("color", "count")
"""Asked by default: the types a small model trained from scratch learns to >= 90 % in minutes."""
# A plain grey equal to the model's pixel mean: after mean subtraction the background is ~0, so a
# CNN trained from scratch sees "nothing" there and every visual token is empty or one object.
BACKGROUND = (124, 116, 104)
NOISE = 4.0  # mild per-pixel noise, so frames are not flat
GENERATOR_VERSION = 2
PARAMS_FILE = "demo.json"


# ------------------------------------------------------------------------------------------------
# Rendering
# ------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _pixel_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    return yy, xx


def _shape_mask(kind: str, size: int, cx: float, cy: float, r: float) -> np.ndarray:
    """Boolean (size, size) mask of one filled shape of radius r centred at (cx, cy)."""
    yy, xx = _pixel_grid(size)
    dx, dy = xx - cx, yy - cy
    if kind == "circle":
        return dx * dx + dy * dy <= r * r
    if kind == "square":
        half = r * 0.85
        return (np.abs(dx) <= half) & (np.abs(dy) <= half)
    # upward triangle inscribed in the circle of radius r*1.15
    rr = r * 1.15
    top, bottom = -rr, rr * 0.5
    half_w = (dy - top) / (bottom - top) * rr * 0.866
    return (dy >= top) & (dy <= bottom) & (np.abs(dx) <= half_w)


def render_video(rng: np.random.Generator, size: int, n_frames: int) -> tuple[np.ndarray, dict[str, Any]]:
    """uint8 (n_frames, size, size, 3) frames and the facts the questions are about."""
    n_shapes = int(rng.integers(1, 4))
    kind = SHAPES[int(rng.integers(len(SHAPES)))]
    color_name = list(COLORS)[int(rng.integers(len(COLORS)))]
    cells = sorted(rng.choice(4, size=n_shapes, replace=False).tolist())
    cell = size / 2
    bg = np.array(BACKGROUND, np.float32)
    objs = []
    for c in cells:
        r = float(rng.uniform(0.2, 0.3) * cell)
        margin = r * 1.2 + 1
        ox, oy = (c % 2) * cell, (c // 2) * cell
        x, y = rng.uniform(ox + margin, ox + cell - margin), rng.uniform(oy + margin, oy + cell - margin)
        vx, vy = rng.uniform(-2.0, 2.0, size=2) * size / 128
        objs.append([x, y, vx, vy, r, ox, oy, margin])
    frames = np.empty((n_frames, size, size, 3), np.uint8)
    color = np.array(COLORS[color_name], np.float32)
    for t in range(n_frames):
        img = bg + rng.standard_normal((size, size, 1), dtype=np.float32) * NOISE  # (size, size, 3)
        for o in objs:
            x, y, vx, vy, r, ox, oy, margin = o
            img[_shape_mask(kind, size, x, y, r)] = color
            # drift, bouncing off the walls of the quadrant so the answer never changes
            x, y = x + vx, y + vy
            if not ox + margin <= x <= ox + cell - margin:
                vx, x = -vx, min(max(x, ox + margin), ox + cell - margin)
            if not oy + margin <= y <= oy + cell - margin:
                vy, y = -vy, min(max(y, oy + margin), oy + cell - margin)
            o[:4] = [x, y, vx, vy]
        frames[t] = np.clip(img, 0, 255).astype(np.uint8)
    facts = {"color": color_name, "count": COUNTS[n_shapes - 1], "shape": kind,
             "location": LOCATIONS[cells[0]] if n_shapes == 1 else None}
    return frames, facts


def encode_mp4(frames: np.ndarray, fps: int) -> bytes:
    """Real H.264 mp4 bytes (libx264, yuv420p, single-threaded so the output is deterministic)."""
    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "20", "preset": "veryfast", "threads": "1"}
        stream.codec_context.thread_count = 1
        for arr in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()


def decode_to_jpegs(mp4: bytes, video_fps: int, fps: float, quality: int = 92) -> list[bytes]:
    """Decode the mp4 once and keep one JPEG frame per 1/fps seconds (the frame-store payload)."""
    import av
    from PIL import Image

    with av.open(io.BytesIO(mp4)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    stride = max(video_fps / fps, 1.0)
    picks = sorted({min(round(k * stride), len(frames) - 1) for k in range(int(len(frames) / stride + 1e-9))})
    out = []
    for i in picks:
        buf = io.BytesIO()
        Image.fromarray(frames[i]).save(buf, format="JPEG", quality=quality)
        out.append(buf.getvalue())
    return out


def _questions(rng: np.random.Generator, vid: str, facts: dict[str, Any],
               types: tuple[str, ...]) -> list[dict[str, Any]]:
    out = []
    for qtype in types:
        templates, answer = QUESTIONS[qtype], facts[qtype]
        if answer is None:
            continue
        question = templates[int(rng.integers(len(templates)))]
        out.append({"question": question, "answer": answer, "video_id": vid, "answer_type": qtype})
    return out


def make_video(job: tuple[int, str, int, int, float, int, int, tuple[str, ...]],
               ) -> tuple[str, bytes, list[bytes], float, list[dict[str, Any]]]:
    """One video from its own seed: (id, mp4 bytes, frame-store JPEGs, their fps, txt_db records).

    Each video has its own random stream (seed, split, index), so the output does not depend on
    how the work is split over processes.
    """
    seed, split, index, size, fps, video_fps, n_frames, types = job
    rng = np.random.default_rng([seed, _SPLIT_CODES[split], index])
    vid = f"demo_{split}_{index:05d}"
    frames, facts = render_video(rng, size, n_frames)
    mp4 = encode_mp4(frames, video_fps)
    jpegs = decode_to_jpegs(mp4, video_fps, fps)
    return vid, mp4, jpegs, float(min(fps, video_fps)), _questions(rng, vid, facts, types)


_SPLIT_CODES = {"train": 1, "val": 2}


# ------------------------------------------------------------------------------------------------
# Tokenizer
# ------------------------------------------------------------------------------------------------


def build_vocab(texts: list[str]) -> list[str]:
    """Specials, then every character and its `##` continuation, then every whole word, sorted.

    `tokenizers`' WordPieceTrainer breaks frequency ties in hash order, so its vocabulary (and
    every token id) changes from run to run; this corpus is tiny, so the full word list is the
    vocabulary and the same seed gives the same ids.
    """
    from tokenizers import normalizers, pre_tokenizers

    norm, pre = normalizers.BertNormalizer(lowercase=True), pre_tokenizers.BertPreTokenizer()
    words = {w for t in texts for w, _ in pre.pre_tokenize_str(norm.normalize_str(t))}
    chars = sorted({c for w in words for c in w})
    return [*SPECIAL_TOKENS, *chars, *(f"##{c}" for c in chars), *sorted(words - set(chars))]


SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def train_tokenizer(texts: list[str], out_dir: Path) -> Path:
    """A lowercase WordPiece tokenizer over the demo's own words, saved as a BertTokenizerFast dir."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import BertTokenizerFast

    vocab = build_vocab(texts)
    tok = Tokenizer(models.WordPiece({t: i for i, t in enumerate(vocab)}, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    cls_id, sep_id = vocab.index("[CLS]"), vocab.index("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)])
    fast = BertTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", sep_token="[SEP]", pad_token="[PAD]",
                             cls_token="[CLS]", mask_token="[MASK]", do_lower_case=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(str(out_dir))
    (out_dir / "vocab.txt").write_text("".join(f"{t}\n" for t in vocab), encoding="utf-8")
    return out_dir


# ------------------------------------------------------------------------------------------------
# The dataset
# ------------------------------------------------------------------------------------------------


def _params(n_train: int, n_val: int, seed: int, size: int, fps: float, video_fps: int,
            n_frames: int, question_types: tuple[str, ...] = DEFAULT_TYPES) -> dict[str, Any]:
    return {"version": GENERATOR_VERSION, "n_train": n_train, "n_val": n_val, "seed": seed, "size": size,
            "fps": fps, "video_fps": video_fps, "n_frames": n_frames, "question_types": list(question_types)}


def is_complete(out_dir: str | os.PathLike[str], **params: Any) -> bool:
    """True when out_dir holds a finished demo dataset generated with exactly these parameters."""
    p = Path(out_dir) / PARAMS_FILE
    try:
        return json.loads(p.read_text()) == _params(**params)
    except (OSError, json.JSONDecodeError, TypeError):
        return False


def generate_demo_dataset(out_dir: str | os.PathLike[str], n_train: int = 1500, n_val: int = 250,
                          seed: int = 0, size: int = 128, fps: float = 2.0, video_fps: int = 4,
                          n_frames: int = 8, question_types: tuple[str, ...] = DEFAULT_TYPES,
                          overwrite: bool = False, workers: int | None = None) -> Path:
    """Write <out_dir>/{txt_db,vis_db,tokenizer,videos} and return out_dir.

    n_train / n_val count videos (each asks 3-4 questions). The dataset is built in a temp dir next
    to out_dir and renamed into place, so out_dir is either absent, the previous complete dataset,
    or the new complete one. If out_dir already holds a dataset made with the same parameters it is
    reused as is (unless overwrite). `workers` processes render and encode (default: the CPU count,
    at most 4; 0 = in this process); the result does not depend on it.
    """
    from clpbert.data.txt_db import TxtDBWriter
    from clpbert.data.vis_db import VisDBWriter

    out = Path(out_dir)
    types = tuple(question_types)
    unknown = [t for t in types if t not in QUESTIONS]
    if unknown or not types:
        raise ValueError(f"question_types {unknown or types} not in {tuple(QUESTIONS)}")
    params = _params(n_train, n_val, seed, size, fps, video_fps, n_frames, types)
    if not overwrite and is_complete(out, n_train=n_train, n_val=n_val, seed=seed, size=size, fps=fps,
                                     video_fps=video_fps, n_frames=n_frames, question_types=types):
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        videos_dir = tmp / "videos"
        videos_dir.mkdir(parents=True)
        splits: dict[str, list[dict[str, Any]]] = {"train": [], "val": []}
        jobs = [(seed, split, i, size, fps, video_fps, n_frames, types)
                for split, n in (("train", n_train), ("val", n_val)) for i in range(n)]
        with VisDBWriter(tmp / "vis_db", map_size=1 << 34) as vis, _pool(workers, len(jobs)) as pool:
            results = pool.map(make_video, jobs, chunksize=16) if pool else map(make_video, jobs)
            for (_, split, *_rest), (vid, mp4, jpegs, used_fps, records) in zip(jobs, results, strict=True):
                (videos_dir / f"{vid}.mp4").write_bytes(mp4)
                vis.put_frames(vid, jpegs, used_fps, width=size, height=size)
                splits[split] += records
        txt = TxtDBWriter(tmp / "txt_db")
        for split, records in splits.items():
            txt.write_split(split, records)
        answers = [a for qtype in types for a in ANSWERS[qtype]]
        txt.write_ans2label({a: i for i, a in enumerate(answers)})
        txt.write_meta({"format": "msrvtt_qa", "task": "demo", "generator": "clpbert.data.demo",
                        "answer_types": list(types), "params": params})
        texts = [q for t in types for q in QUESTIONS[t]] + answers
        train_tokenizer(texts, tmp / "tokenizer")
        (tmp / PARAMS_FILE).write_text(json.dumps(params))
        _fsync_tree(tmp)
        if out.exists():
            trash = out.with_name(f".{out.name}.old{os.getpid()}")
            os.replace(out, trash)
            os.replace(tmp, out)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


CAPTION_ORDER = ("count", "color", "shape", "location")
"""Fact order in a caption: "two red square", or "red" for a colour-only dataset."""
CAPTIONS_DIR = "ret_txt_db"


def video_captions(records: list[dict[str, Any]]) -> dict[str, str]:
    """video id -> a caption made of that video's QA answers in CAPTION_ORDER (one per video)."""
    facts: dict[str, dict[str, str]] = {}
    for r in records:
        facts.setdefault(str(r["video_id"]), {})[str(r["answer_type"])] = str(r["answer"])
    return {vid: " ".join(f[t] for t in CAPTION_ORDER if t in f) for vid, f in facts.items()}


def write_caption_txt_db(dataset_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str] | None = None,
                         ) -> Path:
    """A retrieval txt_db (MSRVTT format: `caption`, `clip_name`) over a demo dataset's own videos.

    Captions are the videos' answers (`video_captions`), so every word is in the demo tokenizer and
    the retrieval data shares vis_db and tokenizer with the QA data: a retrieval run on the same
    videos can start from a demo QA checkpoint. Written to <dataset_dir>/ret_txt_db unless out_dir.
    """
    from clpbert.data.txt_db import TxtDB, TxtDBWriter

    src = TxtDB(Path(dataset_dir) / "txt_db")
    out = Path(out_dir) if out_dir is not None else Path(dataset_dir) / CAPTIONS_DIR
    writer = TxtDBWriter(out)
    for split in src.splits():
        caps = video_captions(src.read(split))
        writer.write_split(split, [{"caption": c, "clip_name": vid} for vid, c in caps.items()])
    types = src.meta().get("answer_types", [])
    writer.write_meta({"format": "msrvtt_ret", "task": "msrvtt_ret", "generator": "clpbert.data.demo",
                       "caption_types": [t for t in CAPTION_ORDER if t in types]})
    return out


@contextlib.contextmanager
def _pool(workers: int | None, n_jobs: int):
    """A spawn-based process pool (no fork after torch's threads start), or None for in-process."""
    if workers is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        workers = min(cores, 4)
    if workers <= 1 or n_jobs < 64:
        yield None
        return
    import concurrent.futures
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=ctx) as ex:
        yield ex


def _fsync_tree(root: Path) -> None:
    """Make every file durable before the rename publishes the directory."""
    for dirpath, _, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fd = os.open(dirpath, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
