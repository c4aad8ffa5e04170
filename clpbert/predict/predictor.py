"""`Predictor`: task predictions for files + texts, with CNN features computed once per video.

    from clpbert.predict import Predictor
    p = Predictor.from_ref("RUN_ID", device="cpu")          # or a weights file / registered name
    res = p.qa(["clips/"], ["what color is the shape?"], top_k=3)
    res.predictions[0].answers  -> [Answer("red", 0.91), ...];  res.errors -> [InputFailure(...)]

Flow: each file is read and hashed (sha256); its features come from the `FeatureCache` when the
model key + hash is there, else it is decoded (threads overlap decoding), batched and run through
`ClipBert.encode_video` once (counted in `stats.cnn_videos`) and stored. Scoring pairs (video i,
text j) then only runs the transformer: `ClipBert.score` on gathered rows, `pair_batch_size` pairs
per forward, with the run's clip aggregation. bf16 autocast on CUDA (model.autocast_context).

Task modes (`mode_of`): qa (msrvtt_qa, tgif_qa_frameqa, vqa, demo: softmax over answers), mc
(tgif_qa_action/transition: one score per option, softmax over options; msrvtt_mc: P(match) of
each option with a retrieval model), retrieval (*_ret: P(match) matrix, ranked either way) and itm
(pretrain: P(match) of each (image/video, caption) pair).
"""

from __future__ import annotations

import concurrent.futures
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from clpbert.errors import UserError
from clpbert.predict.checkpoint_source import ModelSource, resolve_source
from clpbert.predict.feature_cache import FeatureCache, default_root, model_key
from clpbert.predict.inputs import InputError, MediaFile, collect, content_hash, frame_spec, load, read_bytes

HEADS_FOR_MODE = {"qa": ("qa",), "mc": ("mc", "retrieval"), "retrieval": ("retrieval",), "itm": ("pretrain",)}


def mode_of(task: str) -> str:
    """How predict answers with `task` (its TaskSpec's predict mode)."""
    from clpbert.task_specs import SPECS, task_names

    if task not in task_names():
        raise UserError(f"unknown task {task!r}; predict knows {', '.join(task_names())}")
    return SPECS[task].predict


# -- results (plain dataclasses; `to_dict` for JSON) --------------------------------------------


@dataclass
class InputFailure:
    path: str
    error: str


@dataclass
class Answer:
    answer: str
    label: int
    prob: float


@dataclass
class QAPrediction:
    path: str
    question: str
    answers: list[Answer]


@dataclass
class MCPrediction:
    path: str
    question: str
    options: list[str]
    scores: list[float]
    """Softmax over the options (mc head) or P(match) per option (retrieval head)."""
    choice: int

    @property
    def chosen(self) -> str:
        return self.options[self.choice]


@dataclass
class RetrievalResult:
    texts: list[str]
    paths: list[str]
    scores: torch.Tensor
    """P(match), float (n_texts, n_videos)."""
    errors: list[InputFailure] = field(default_factory=list)

    def rank_videos(self, text_index: int) -> list[tuple[str, float]]:
        """(path, score) best first for one text."""
        row = self.scores[text_index]
        order = torch.argsort(row, descending=True, stable=True).tolist()
        return [(self.paths[j], float(row[j])) for j in order]

    def rank_texts(self, video_index: int) -> list[tuple[str, float]]:
        col = self.scores[:, video_index]
        order = torch.argsort(col, descending=True, stable=True).tolist()
        return [(self.texts[i], float(col[i])) for i in order]

    def to_dict(self) -> dict[str, Any]:
        return {"texts": self.texts, "paths": self.paths, "scores": self.scores.tolist(),
                "errors": [asdict(e) for e in self.errors]}


@dataclass
class ITMScore:
    path: str
    caption: str
    score: float


@dataclass
class Results:
    """Predictions of one call plus the inputs that could not be used."""

    predictions: list[Any]
    errors: list[InputFailure] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"predictions": [asdict(p) for p in self.predictions],
                "errors": [asdict(e) for e in self.errors]}


@dataclass
class Stats:
    cnn_videos: int = 0
    """Videos run through the CNN (cache misses)."""
    cnn_calls: int = 0
    pairs: int = 0
    """(video, text) pairs scored by the transformer."""
    decode_s: float = 0.0
    cnn_s: float = 0.0
    score_s: float = 0.0


@dataclass
class Encoded:
    media: MediaFile
    sha256: str
    visual: torch.Tensor  # (N, h, w, D) on the predictor's device


# -- the predictor -----------------------------------------------------------------------------


def resolve_device(gpus: str | None) -> torch.device:
    """`None`/"" -> CPU; "0" -> cuda:0 (the first index of a list is used); UserError without CUDA."""
    if gpus is None or str(gpus).strip() in ("", "cpu"):
        return torch.device("cpu")
    first = str(gpus).split(",")[0].strip()
    if not first.isdigit():
        raise UserError(f"--gpus {gpus!r}: give a GPU index such as 0 (predict uses one GPU)")
    if not torch.cuda.is_available():
        raise UserError(f"--gpus {gpus}: no CUDA GPU is visible here; leave --gpus out to predict on the CPU")
    if int(first) >= torch.cuda.device_count():
        raise UserError(f"--gpus {first}: only {torch.cuda.device_count()} CUDA GPU(s) visible")
    return torch.device(f"cuda:{first}")


class Predictor:
    def __init__(self, source: ModelSource, device: str | torch.device = "cpu", precision: str = "auto",
                 cache: bool | FeatureCache = True, cache_root: str | os.PathLike[str] | None = None,
                 batch_size: int | None = None, pair_batch_size: int | None = None,
                 decode_workers: int | None = None):
        from clpbert.data.tokenizer import load_tokenizer
        from clpbert.model import build_model, resolve_precision
        from clpbert.model.weights import load_state

        self.source = source
        self.cfg = cfg = source.cfg
        self.device = torch.device(device)
        self.precision = resolve_precision(self.device, precision)
        self.model = build_model(cfg.model, cfg.task, num_labels=source.num_labels)
        report = load_state(self.model, source.state, "clipbert", str(source.path))
        bad = report.missing + [k for k, *_ in report.mis_shaped]
        if bad:
            raise UserError(f"weights file {source.path} does not fit the {cfg.task.name} model of its "
                            f"config ({len(bad)} missing or mis-shaped keys, first {bad[0]!r}); is it a "
                            "checkpoint of another task or size?")
        self.model.eval().to(self.device)
        self.tokenizer = load_tokenizer(source.tokenizer_dir)
        self.spec = frame_spec(cfg)
        default_bs = cfg.data.inference_batch_size if self.device.type == "cuda" else 8
        self.batch_size = max(1, batch_size or default_bs)
        self.pair_batch_size = max(1, pair_batch_size or (cfg.eval.eval_retrieval_batch_size
                                                           if self.device.type == "cuda" else 64))
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        self.decode_workers = max(1, decode_workers or min(8, cores))
        self.stats = Stats()
        if cache is True:
            key, doc = model_key(self.model, cfg.model, self.spec.key(), self.precision)
            self.cache: FeatureCache | None = FeatureCache(cache_root or default_root(), key, doc)
        else:
            self.cache = cache or None

    @classmethod
    def from_ref(cls, ref: str, task: str | None = None, tokenizer: str | None = None,
                 **kwargs: Any) -> Predictor:
        return cls(resolve_source(ref, task=task, tokenizer=tokenizer), **kwargs)

    # -- helpers ---------------------------------------------------------------------------------
    @property
    def head(self) -> str:
        return self.cfg.task.head

    def check_task(self, task: str) -> str:
        """The mode of `task`, or a UserError when this checkpoint's head cannot do it."""
        mode = mode_of(task)
        if self.head not in HEADS_FOR_MODE[mode]:
            raise UserError(f"--task {task} needs a model with a {' or '.join(HEADS_FOR_MODE[mode])} head, "
                            f"but this checkpoint ({self.cfg.task.name}) has a {self.head} head; "
                            f"use --task {self.cfg.task.name} or another checkpoint")
        return mode

    def _autocast(self):
        from clpbert.model import autocast_context

        return autocast_context(self.device, self.precision)

    def _tokenize(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        from clpbert.data.tokenizer import tokenize

        ids, mask = tokenize(self.tokenizer, list(texts), self.cfg.data.max_txt_len)
        return ids.to(self.device), mask.to(self.device)

    # -- visual features -------------------------------------------------------------------------
    def _prepare(self, media: MediaFile) -> tuple[str, torch.Tensor | None, torch.Tensor | None]:
        """(sha256, cached features or None, frames (N, T, 3, L, L) or None). Runs in a thread."""
        data = read_bytes(media)
        sha = content_hash(data)
        if self.cache is not None:
            hit = self.cache.get(sha)
            if hit is not None:
                return sha, hit, None
        return sha, None, load(media, data, self.spec)

    def _windows(self, files: list[MediaFile]) -> Iterator[list[tuple[MediaFile, Any]]]:
        """Prepared files in order, a window at a time (bounded memory); errors come back as values."""
        def job(m: MediaFile) -> Any:
            try:
                return self._prepare(m)
            except InputError as e:
                return e

        window = max(self.batch_size * 2, 16)
        with concurrent.futures.ThreadPoolExecutor(self.decode_workers) as pool:
            pending = [(m, pool.submit(job, m)) for m in files[:window]]
            nxt = window
            while pending:
                chunk, pending = pending, []
                # queue the next window before waiting, so decoding overlaps the CNN
                pending = [(m, pool.submit(job, m)) for m in files[nxt:nxt + window]]
                nxt += window
                yield [(m, f.result()) for m, f in chunk]

    def encode(self, inputs: Sequence[str | os.PathLike[str] | MediaFile],
               ) -> tuple[list[Encoded], list[InputFailure]]:
        """Features of every readable input (in input order) and one InputFailure per unusable one."""
        files = [m if isinstance(m, MediaFile) else None for m in inputs]
        if any(f is None for f in files):
            files = collect([m.path if isinstance(m, MediaFile) else m for m in inputs])
        encoded: list[Encoded] = []
        errors: list[InputFailure] = []
        pending: list[tuple[MediaFile, str, torch.Tensor]] = []
        by_sha: dict[str, torch.Tensor] = {}
        t0, cnn_before = time.perf_counter(), self.stats.cnn_s

        def flush() -> None:
            if not pending:
                return
            frames = torch.stack([f for _, _, f in pending]).to(self.device)  # (B, N, T, 3, L, L)
            t = time.perf_counter()
            with torch.inference_mode(), self._autocast():
                visual = self.model.encode_video(frames)  # (B, N, h, w, D)
            self.stats.cnn_s += time.perf_counter() - t
            self.stats.cnn_calls += 1
            self.stats.cnn_videos += len(pending)
            for (media, sha, _), v in zip(pending, visual, strict=True):
                v = v.clone()
                by_sha[sha] = v
                if self.cache is not None:
                    self.cache.put(sha, v)
                encoded.append(Encoded(media, sha, v))
            pending.clear()

        for window in self._windows(list(files)):
            for media, result in window:
                if isinstance(result, InputError):
                    errors.append(InputFailure(media.name, str(result)))
                    continue
                sha, cached, frames = result
                if cached is not None:
                    encoded.append(Encoded(media, sha, cached.to(self.device)))
                elif sha in by_sha:  # the same bytes twice: one CNN pass
                    encoded.append(Encoded(media, sha, by_sha[sha]))
                elif any(p[1] == sha for p in pending):
                    flush()
                    encoded.append(Encoded(media, sha, by_sha[sha]))
                else:
                    pending.append((media, sha, frames))
                    if len(pending) >= self.batch_size:
                        flush()
        flush()
        self.stats.decode_s += time.perf_counter() - t0 - (self.stats.cnn_s - cnn_before)
        order = {m.name: i for i, m in enumerate(files)}
        encoded.sort(key=lambda e: order[e.media.name])
        return encoded, errors

    # -- scoring ---------------------------------------------------------------------------------
    def score_pairs(self, visuals: Sequence[torch.Tensor], ids: torch.Tensor, mask: torch.Tensor,
                    video_idx: torch.Tensor, text_idx: torch.Tensor) -> torch.Tensor:
        """Clip-aggregated head outputs per pair, float (P, K) (pretrain: ITM logits (P, 2)).

        visuals: V tensors (N, h, w, D); ids/mask (n_texts, Lt); video_idx/text_idx long (P,).
        """
        from clpbert.model import PretrainOutput, aggregate_clip_scores

        stacked = torch.stack(list(visuals)) if not isinstance(visuals, torch.Tensor) else visuals
        out = []
        t = time.perf_counter()
        with torch.inference_mode(), self._autocast():
            for s in range(0, video_idx.numel(), self.pair_batch_size):
                vi = video_idx[s:s + self.pair_batch_size].to(self.device)
                ti = text_idx[s:s + self.pair_batch_size].to(self.device)
                logits = self.model.score(stacked[vi], ids[ti], mask[ti])  # (P, N, K) | PretrainOutput
                if isinstance(logits, PretrainOutput):
                    out.append(logits.itm_logits.float())
                else:
                    out.append(aggregate_clip_scores(logits.float(), self.cfg.task.score_agg_func))
        self.stats.score_s += time.perf_counter() - t
        self.stats.pairs += int(video_idx.numel())
        return torch.cat(out).cpu() if out else torch.zeros(0, 1)

    def _all_pairs(self, n_videos: int, n_texts: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Video-major (video 0 with every text, then video 1 ...): video_idx, text_idx long (V*T,)."""
        v = torch.arange(n_videos).repeat_interleave(n_texts)
        t = torch.arange(n_texts).repeat(n_videos)
        return v, t

    def _match_prob(self, z: torch.Tensor) -> torch.Tensor:
        """(P, K) -> P(match) (P,): softmax[:, 1] for a 2-way head, sigmoid for a 1-logit rank head."""
        return z.softmax(dim=-1)[:, 1] if z.shape[-1] == 2 else z[:, 0].sigmoid()

    def match_matrix(self, encoded: Sequence[Encoded], texts: Sequence[str]) -> torch.Tensor:
        """P(match), float (n_texts, n_videos) for retrieval/pretrain heads."""
        if not encoded or not texts:
            return torch.zeros(len(texts), len(encoded))
        ids, mask = self._tokenize(texts)
        vi, ti = self._all_pairs(len(encoded), len(texts))
        z = self.score_pairs([e.visual for e in encoded], ids, mask, vi, ti)
        return self._match_prob(z).view(len(encoded), len(texts)).t().contiguous()

    # -- tasks -------------------------------------------------------------------------------------
    def qa(self, inputs: Sequence[Any], questions: Sequence[str], top_k: int = 5) -> Results:
        """Top-k answers with probabilities for every (input, question)."""
        if self.head != "qa":
            raise UserError(f"this checkpoint has a {self.head} head; open-ended QA needs a qa model")
        if not questions:
            raise UserError("QA needs at least one --question")
        encoded, errors = self.encode(inputs)
        preds: list[QAPrediction] = []
        if encoded:
            ids, mask = self._tokenize(questions)
            vi, ti = self._all_pairs(len(encoded), len(questions))
            probs = self.score_pairs([e.visual for e in encoded], ids, mask, vi, ti).softmax(dim=-1)
            names = self.source.label_names or []
            k = max(1, min(top_k, probs.shape[1]))
            top = probs.topk(k, dim=-1)
            for row, (v, t) in enumerate(zip(vi.tolist(), ti.tolist(), strict=True)):
                answers = [Answer(names[i] if i < len(names) else f"<label {i}>", int(i), float(p))
                           for p, i in zip(top.values[row].tolist(), top.indices[row].tolist(), strict=True)]
                preds.append(QAPrediction(encoded[v].media.name, questions[t], answers))
        return Results(preds, errors)

    def multiple_choice(self, inputs: Sequence[Any], options: Sequence[str], question: str = "") -> Results:
        """Score every option for every input; the choice is the best-scoring option.

        mc head (TGIF Action/Transition): text = question + " " + option, softmax over the options.
        retrieval head (MSRVTT-MC): text = the option (a caption; the question is prefixed if given),
        score = P(match).
        """
        options = [o for o in options if o]
        if len(options) < 2:
            raise UserError('multiple choice needs at least 2 options, e.g. --options "A|B|C"')
        if self.head not in ("mc", "retrieval"):
            raise UserError(f"this checkpoint has a {self.head} head; multiple choice needs an mc or "
                            "retrieval model")
        q = question.strip()
        texts = [f"{q} {o}" if q else o for o in options]
        encoded, errors = self.encode(inputs)
        preds: list[MCPrediction] = []
        if encoded:
            ids, mask = self._tokenize(texts)
            vi, ti = self._all_pairs(len(encoded), len(texts))
            z = self.score_pairs([e.visual for e in encoded], ids, mask, vi, ti)
            n = len(options)
            if self.head == "mc":
                scores = z[:, 0].view(len(encoded), n).softmax(dim=-1)
            else:
                scores = self._match_prob(z).view(len(encoded), n)
            for j, e in enumerate(encoded):
                row = scores[j].tolist()
                preds.append(MCPrediction(e.media.name, q, list(options), row, int(scores[j].argmax())))
        return Results(preds, errors)

    def retrieval(self, inputs: Sequence[Any], texts: Sequence[str]) -> RetrievalResult:
        """The P(match) matrix of texts x readable inputs (rank either way with the result's methods)."""
        if self.head != "retrieval":
            raise UserError(f"this checkpoint has a {self.head} head; retrieval needs a retrieval model")
        if not texts:
            raise UserError("retrieval needs a text: --query TEXT (rank the videos) or --caption TEXT")
        encoded, errors = self.encode(inputs)
        matrix = self.match_matrix(encoded, texts)
        return RetrievalResult(list(texts), [e.media.name for e in encoded], matrix, errors)

    def itm(self, inputs: Sequence[Any], captions: Sequence[str]) -> Results:
        """Image/video-text matching score for every (input, caption) pair (pretrain or retrieval head)."""
        if self.head not in ("pretrain", "retrieval"):
            raise UserError(f"this checkpoint has a {self.head} head; caption matching needs a pretrain or "
                            "retrieval model")
        if not captions:
            raise UserError("caption matching needs at least one --caption")
        encoded, errors = self.encode(inputs)
        m = self.match_matrix(encoded, captions)
        preds = [ITMScore(e.media.name, c, float(m[i, j])) for j, e in enumerate(encoded)
                 for i, c in enumerate(captions)]
        return Results(preds, errors)


def describe(source: ModelSource) -> dict[str, Any]:
    """What the CLI prints about the model it used (also in --json)."""
    c = source.cfg
    return {"checkpoint": str(Path(source.path)), "run_id": source.run_id, "task": c.task.name,
            "head": c.task.head, "config_from": source.config_from,
            "sampling": {"L": c.data.max_img_size, "fps": c.data.fps, "T": c.data.num_frm,
                         "N": c.data.inference_n_clips, "agg": c.task.score_agg_func}}
