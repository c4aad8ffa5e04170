"""Datasets for every task head, each with a `.collate` that builds the "Batches" contract dict.

`build_dataset(cfg, split, train, tokenizer, txt_db_path, vis_db_path)` picks the dataset from the task:

  pretrain   PretrainDataset   images + captions; training groups are chunks of k captions of one image
                               (clpbert.data.grouping: the original's epoch), ITM negatives (prob
                               itm_neg_prob, a caption of another image, label 0), MLM masking
  qa         QADataset         question -> ans2label[answer]; unknown answers: skipped in training,
                               label -100 at evaluation (counted wrong); VQA soft scores -> `targets`
                               (zero targets kept in training, as the original)
  mc         MCDataset         texts = question + " " + option_i (msrvtt_mc: the option captions alone),
                               labels = correct option (B,)
  retrieval  RetrievalDataset  training: 1 positive + itm_neg_size captions of other videos (labels 1/0)
             RetrievalEvalData evaluation: `videos` (a Dataset of (video_id, frames)) + all `texts`, so the
                               trainer builds the full text x video score matrix with one CNN pass per video

Each item decodes its video ONCE (every clip's indices together), resizes/pads to L x L and returns
uint8 (N, T, 3, L, L); image tasks give (1, 1, 3, L, L). A missing or undecodable video (or one over
5:1 aspect) makes the item None: collate drops it and reports `n_skipped`, and a counted warning is
logged, so a bad file never kills an epoch. Missing txt_db/vis_db/splits are one UserError up front.

Randomness (clip starts, negatives, k-of-group, MLM) comes from a per-process `random.Random`, seeded
from the DataLoader worker seed (so it changes every epoch yet is reproducible from runtime.seed), or
from runtime.seed in the main process. Evaluation items use an rng seeded by (seed, index), so a
validation pass is the same every time.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset, get_worker_info

from clpbert.config import RunConfig
from clpbert.data.collate import add_mlm, collate_items, empty_frames
from clpbert.data.decode import VideoDecodeError, load_frames
from clpbert.data.grouping import chunk_groups
from clpbert.data.qa_labels import answer_label, soft_scores, training_questions
from clpbert.data.sampling import SamplingPlan
from clpbert.data.tokenizer import tokenize
from clpbert.data.transforms import AspectRatioError
from clpbert.data.txt_db import KEY_FIELDS, TxtDB, record_key  # noqa: F401 (re-exported)
from clpbert.data.vis_db import MissingVideoError, VisDB
from clpbert.errors import UserError

log = logging.getLogger("clpbert.data")

ITM_NEG_TRIES = 5


# ----------------------------------------------------------------------------------------------
# Video loading shared by every dataset
# ----------------------------------------------------------------------------------------------


@dataclass
class SkipCounter:
    """Items skipped in this process (missing/corrupt/over-aspect videos), for warnings and tests."""

    count: int = 0
    keys: list[str] = field(default_factory=list)


class VideoLoader:
    """vis_db key -> uint8 (N, T, 3, L, L) frames, or None (counted) when the video cannot be used."""

    def __init__(self, vis_db: VisDB, plan: SamplingPlan, size: int, image: bool,
                 device: str | torch.device = "cpu"):
        self.vis_db = vis_db
        self.plan = plan
        self.size = size
        self.image = image
        self.device = device
        self.skipped = SkipCounter()

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        return (1, 1, self.size) if self.image else (self.plan.n_clips, self.plan.num_frm, self.size)

    def load(self, key: str, rng: random.Random) -> torch.Tensor | None:
        n_clips, num_frm, L = self.frame_shape
        try:
            record = self.vis_db.get(key)
            # decoded, resized (long side L) and zero-padded frame by frame: (N*T, 3, L, L)
            if self.image:
                frames = load_frames(record, lambda n, fps: [0], device=self.device, size=L)
            else:
                frames = load_frames(record, lambda n, fps: self.plan.indices(n, fps, rng).reshape(-1),
                                     device=self.device, size=L)
        except (MissingVideoError, VideoDecodeError, AspectRatioError) as e:
            self._skip(key, e)
            return None
        return frames.reshape(n_clips, num_frm, 3, L, L)

    def _skip(self, key: str, err: Exception) -> None:
        self.skipped.count += 1
        if len(self.skipped.keys) < 1000:
            self.skipped.keys.append(key)
        reason = "not in the vis_db" if isinstance(err, MissingVideoError) else str(err)[:200]
        log.warning("skipped video %r: %s (%d skipped so far in pid %d)", key, reason, self.skipped.count,
                    os.getpid())


class _Base(Dataset):
    """Shared state: records, the video loader, the tokenizer, per-process rng."""

    head = ""

    def __init__(self, records: list[dict[str, Any]], loader: VideoLoader, tokenizer: Any, max_txt_len: int,
                 train: bool, seed: int):
        self.records = records
        self.loader = loader
        self.tokenizer = tokenizer
        self.max_txt_len = max_txt_len
        self.train = train
        self.seed = seed
        self._rng: random.Random | None = None
        self._rng_key: tuple[int, int | None] | None = None

    def rng(self, index: int) -> random.Random:
        """Training: the per-process stream (new every epoch via worker seeds). Eval: fixed per index."""
        if not self.train:
            return random.Random(self.seed * 1_000_003 + index)
        info = get_worker_info()
        key = (os.getpid(), info.seed if info is not None else None)
        if self._rng is None or self._rng_key != key:
            self._rng = random.Random(info.seed if info is not None else self.seed)
            self._rng_key = key
        return self._rng

    @property
    def n_skipped_total(self) -> int:
        """Videos skipped so far in this process (the per-batch count rides on `n_skipped`)."""
        return self.loader.skipped.count

    def collate(self, items: Sequence[dict[str, Any] | None]) -> dict[str, Any]:
        return collate_items(items, self.tokenizer, self.max_txt_len, frame_shape=self.loader.frame_shape)


# ----------------------------------------------------------------------------------------------
# QA (open-ended) and multiple choice
# ----------------------------------------------------------------------------------------------


class QADataset(_Base):
    """One item per question (groups of k questions per image for VQA training)."""

    head = "qa"

    def __init__(self, records, loader, tokenizer, max_txt_len, train, seed, *, ans2label: dict[str, int],
                 num_labels: int, group_size: int = 1):
        for i, rec in enumerate(records):
            rec.setdefault("question_id", i)  # sequential per file, as the original re-assigns them
        self.ans2label = ans2label
        self.num_labels = num_labels
        self.soft = soft_scores(records)
        if train:  # answers outside the vocabulary cannot be learnt: dropped (soft scores: kept)
            records = training_questions(records, ans2label)
        self.group_size = group_size if train else 1
        self.groups = chunk_groups(records, self.group_size, record_key, pad=train, rng=random.Random(seed))
        super().__init__(records, loader, tokenizer, max_txt_len, train, seed)

    def _label(self, rec: dict[str, Any]) -> int:
        return answer_label(rec, self.ans2label)

    def __len__(self) -> int:
        return len(self.groups)

    def __getitem__(self, index: int) -> dict[str, Any] | None:
        rng = self.rng(index)
        group = self.groups[index]
        frames = self.loader.load(record_key(group[0]), rng)
        if frames is None:
            return None
        item: dict[str, Any] = {
            "frames": frames,
            "texts": [str(r["question"]) for r in group],
            "labels": [self._label(r) for r in group],
            "meta": [{"question_id": r.get("question_id"), "video_id": record_key(r),
                      "question": r.get("question"), "answer": r.get("answer"),
                      "answer_type": r.get("answer_type")} for r in group],
        }
        if self.soft:
            targets = torch.zeros(len(group), self.num_labels)
            for row, r in enumerate(group):
                for ans, score in (r.get("labels") or {}).items():
                    if ans in self.ans2label and self.ans2label[ans] < self.num_labels:
                        targets[row, self.ans2label[ans]] = float(score)
            item["targets"] = targets
        return item


class MCDataset(_Base):
    """One item per question; texts are its options (prefixed by the question when there is one)."""

    head = "mc"

    def __init__(self, records, loader, tokenizer, max_txt_len, train, seed, *, num_options: int):
        bad = [i for i, r in enumerate(records) if len(r.get("options") or []) != num_options]
        if bad:
            n_opts = len(records[bad[0]].get("options") or [])
            raise UserError(f"multiple-choice record {bad[0]} has {n_opts} options, expected {num_options} "
                            "(task.num_options); re-create the txt_db")
        for i, rec in enumerate(records):
            rec.setdefault("question_id", rec.get("qid", i))
        self.num_options = num_options
        super().__init__(records, loader, tokenizer, max_txt_len, train, seed)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, Any] | None:
        rng = self.rng(index)
        rec = self.records[index]
        frames = self.loader.load(record_key(rec), rng)
        if frames is None:
            return None
        question = str(rec.get("question") or "").strip()
        texts = [f"{question} {opt}" if question else str(opt) for opt in rec["options"]]
        meta = {"question_id": rec.get("question_id"), "video_id": record_key(rec), "question": question,
                "options": list(rec["options"]), "answer": int(rec["answer"]),
                "answer_type": rec.get("answer_type")}
        # One meta dict per text (the contract); each option's dict carries its index.
        return {"frames": frames, "texts": texts, "labels": [int(rec["answer"])],
                "meta": [dict(meta, option=i) for i in range(len(texts))]}

    def collate(self, items):
        return collate_items(items, self.tokenizer, self.max_txt_len, frame_shape=self.loader.frame_shape,
                             per_video_labels=True)


# ----------------------------------------------------------------------------------------------
# Retrieval
# ----------------------------------------------------------------------------------------------


class RetrievalDataset(_Base):
    """Training pairs: each caption line gives its video with 1 positive + `neg_size` negative captions."""

    head = "retrieval"

    def __init__(self, records, loader, tokenizer, max_txt_len, train, seed, *, neg_size: int):
        super().__init__(records, loader, tokenizer, max_txt_len, train, seed)
        self.neg_size = neg_size
        self.keys = [record_key(r) for r in records]
        if neg_size > 0 and len(set(self.keys)) < 2:
            raise UserError("retrieval training needs captions of at least 2 videos for negatives; "
                            "check the txt_db split")

    def __len__(self) -> int:
        return len(self.records)

    def negative(self, key: str, rng: random.Random) -> int:
        """Index of a caption drawn uniformly from the captions of a video other than `key`."""
        while True:
            j = rng.randrange(len(self.records))
            if self.keys[j] != key:
                return j

    def __getitem__(self, index: int) -> dict[str, Any] | None:
        rng = self.rng(index)
        key = self.keys[index]
        frames = self.loader.load(key, rng)
        if frames is None:
            return None
        picks = [index] + [self.negative(key, rng) for _ in range(self.neg_size)]
        return {"frames": frames,
                "texts": [str(self.records[j]["caption"]) for j in picks],
                "labels": [1] + [0] * self.neg_size,
                "meta": [{"video_id": key, "text_video_id": self.keys[j], "caption_index": j} for j in picks]}


class RetrievalVideos(Dataset):
    """Evaluation videos: item = {"video_id", "frames" (N, T, 3, L, L)} or None."""

    def __init__(self, video_ids: list[str], loader: VideoLoader, seed: int):
        self.video_ids = video_ids
        self.loader = loader
        self.seed = seed

    def __len__(self) -> int:
        return len(self.video_ids)

    def __getitem__(self, index: int) -> dict[str, Any] | None:
        vid = self.video_ids[index]
        frames = self.loader.load(vid, random.Random(self.seed * 1_000_003 + index))
        return None if frames is None else {"video_id": vid, "frames": frames}

    def collate(self, items: Sequence[dict[str, Any] | None]) -> dict[str, Any]:
        """{"frames": uint8 (B, N, T, 3, L, L), "video_ids": [B], "n_skipped": int}."""
        kept = [it for it in items if it is not None]
        frames = (torch.stack([it["frames"] for it in kept]) if kept
                  else empty_frames(*self.loader.frame_shape))
        return {"frames": frames, "video_ids": [it["video_id"] for it in kept],
                "n_skipped": len(items) - len(kept)}


@dataclass
class RetrievalEvalData:
    """Everything a full retrieval evaluation needs (spec §4.4).

    `videos`: one item per distinct video (CNN features are computed once per video);
    `texts`: one dict per caption line {"text_id", "caption", "video_id"} (the ground-truth video);
    `input_ids` / `attention_mask`: long (n_texts, Lt), the captions tokenized once.
    Score every text against every video that decoded; texts whose GT video was skipped have no GT
    column and count as misses.
    """

    videos: RetrievalVideos
    texts: list[dict[str, Any]]
    input_ids: torch.Tensor
    attention_mask: torch.Tensor

    @property
    def collate(self):
        return self.videos.collate

    def __len__(self) -> int:
        return len(self.texts)


# ----------------------------------------------------------------------------------------------
# Pretraining
# ----------------------------------------------------------------------------------------------


class PretrainDataset(_Base):
    """Image-text pretraining (MLM + ITM): items are image groups with k captions (1 at evaluation)."""

    head = "pretrain"

    def __init__(self, records, loader, tokenizer, max_txt_len, train, seed, *, group_size: int,
                 itm_neg_prob: float, mlm_prob: float):
        super().__init__(records, loader, tokenizer, max_txt_len, train, seed)
        self.group_size = group_size if train else 1
        self.groups = chunk_groups(records, self.group_size, record_key, pad=train, rng=random.Random(seed))
        self.keys = [record_key(r) for r in records]
        self.itm_neg_prob = itm_neg_prob
        self.mlm_prob = mlm_prob

    def __len__(self) -> int:
        return len(self.groups)

    def _negative(self, key: str, rng: random.Random) -> int | None:
        for _ in range(ITM_NEG_TRIES):
            j = rng.randrange(len(self.records))
            if self.keys[j] != key:
                return j
        return None

    def __getitem__(self, index: int) -> dict[str, Any] | None:
        rng = self.rng(index)
        group = self.groups[index]
        key = record_key(group[0])
        frames = self.loader.load(key, rng)
        if frames is None:
            return None
        texts, labels, meta = [], [], []
        for rec in group:
            caption, itm, source = str(rec["caption"]), 1, key
            if rng.random() < self.itm_neg_prob:
                j = self._negative(key, rng)
                if j is not None:
                    caption, itm, source = str(self.records[j]["caption"]), 0, self.keys[j]
            texts.append(caption)
            labels.append(itm)
            meta.append({"image_id": key, "caption_image_id": source})
        return {"frames": frames, "texts": texts, "labels": labels, "meta": meta,
                "mlm_seed": rng.getrandbits(62)}

    def collate(self, items):
        batch = collate_items(items, self.tokenizer, self.max_txt_len, frame_shape=self.loader.frame_shape)
        seeds = [it["mlm_seed"] for it in items if it is not None]
        gen = torch.Generator().manual_seed(hash(tuple(seeds)) & ((1 << 62) - 1)) if seeds else None
        batch["itm_labels"] = batch["labels"]
        add_mlm(batch, self.tokenizer, self.mlm_prob, gen)
        return batch


# ----------------------------------------------------------------------------------------------
# Building
# ----------------------------------------------------------------------------------------------


def _require_fields(records: list[dict[str, Any]], fields: Sequence[str], path: Path, split: str) -> None:
    if not records:
        raise UserError(f"txt_db split {split!r} in {path} is empty; "
                        "re-create it with `clpbert datasets prepare`")
    missing = [f for f in fields if f not in records[0]]
    if missing:
        raise UserError(f"txt_db split {split!r} in {path} lacks field(s) {', '.join(missing)} for this task "
                        f"(has {', '.join(records[0])}); is data.txt_db the right dataset for the task?")
    record_key(records[0])


def build_dataset(cfg: RunConfig, split: str, train: bool, tokenizer: Any,
                  txt_db_path: str | os.PathLike[str], vis_db_path: str | os.PathLike[str],
                  device: str | torch.device = "cpu") -> Dataset | RetrievalEvalData:
    """The dataset of `split` for cfg's task head; `.collate` is its DataLoader collate_fn.

    Retrieval evaluation (head retrieval, train=False, except msrvtt_mc) returns a RetrievalEvalData.
    Raises UserError up front for a missing txt_db/split/vis_db or records without the task's fields.
    """
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # tokenizing happens in DataLoader workers
    txt = TxtDB(txt_db_path)
    records = txt.read(split)
    vis = VisDB(vis_db_path)  # checks the directory only; the LMDB opens lazily in each worker
    limit = cfg.data.max_train_examples if train else cfg.data.max_eval_examples
    if limit > 0:
        records = records[:limit]
    from clpbert.data.frame_spec import frame_spec
    from clpbert.task_specs import spec_for

    task, d = cfg.task, cfg.data
    frames = frame_spec(cfg, train)
    loader = VideoLoader(vis, frames.plan, frames.size, image=frames.image_model, device=device)
    seed = cfg.runtime.seed
    args = (loader, tokenizer, d.max_txt_len, train, seed)
    tpath = Path(txt_db_path)

    kind = spec_for(task).dataset  # the task says which builder makes its data
    if kind == "mc":
        _require_fields(records, ("options", "answer"), tpath, split)
        return MCDataset(records, *args, num_options=task.num_options)
    if kind == "qa":
        _require_fields(records, ("question",), tpath, split)
        ans2label = txt.ans2label()
        if not ans2label:
            raise UserError(f"txt_db {tpath} has no ans2label.json, which QA tasks need; re-create it with "
                            "`clpbert datasets prepare`")
        num_labels = max(len(ans2label), task.min_num_labels)
        return QADataset(records, *args, ans2label=ans2label, num_labels=num_labels,
                         group_size=d.max_n_example_per_group)
    if kind == "retrieval":
        _require_fields(records, ("caption",), tpath, split)
        if train:
            return RetrievalDataset(records, *args, neg_size=task.itm_neg_size)
        video_ids = list(dict.fromkeys(record_key(r) for r in records))
        texts = [{"text_id": i, "caption": str(r["caption"]), "video_id": record_key(r)}
                 for i, r in enumerate(records)]
        input_ids, attention_mask = tokenize(tokenizer, [t["caption"] for t in texts], d.max_txt_len)
        return RetrievalEvalData(RetrievalVideos(video_ids, loader, seed), texts, input_ids, attention_mask)
    if kind == "pretrain":
        _require_fields(records, ("caption",), tpath, split)
        return PretrainDataset(records, *args, group_size=d.max_n_example_per_group,
                               itm_neg_prob=task.itm_neg_prob, mlm_prob=task.mlm_prob)
    raise UserError(f"task {task.name!r} has no dataset builder {kind!r}; use pretrain, qa, mc or retrieval")
