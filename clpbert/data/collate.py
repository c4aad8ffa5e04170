"""Batch assembly shared by every task: stack frames, tokenize texts, mask for MLM, count skipped items.

The batch layout is the team's "Batches" contract:

    frames          uint8 (B, N, T, 3, L, L)   RGB, long side L, zero-padded bottom/right
    input_ids       long  (B', Lt)             attention_mask long (B', Lt)
    repeats         long  (B,)                 texts per video, sum = B'
    labels          long  (B',)  (mc: (B,) correct option; texts are B*options)
    mlm_labels      long  (B', Lt) -100 where not masked   } pretraining only
    itm_labels      long  (B',)                            }
    targets         float (B', num_labels)     VQA soft scores (loss_type bce) only
    meta            list[dict] per text
    n_skipped       int   items dropped in this batch (missing/corrupt/too-elongated video)

A dataset item is a dict {"frames": (N,T,3,L,L), "texts": [...], "labels": [...], "meta": [...]} or
None for a skipped video; `collate_items` drops the Nones and counts them. A batch whose items were
all skipped has B = 0 (frames (0, N, T, 3, L, L)); the trainer should skip it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from clpbert.data.tokenizer import special_ids, tokenize


def mask_tokens(input_ids: torch.Tensor, attention_mask: torch.Tensor, *, mask_id: int, vocab_size: int,
                special: Sequence[int], prob: float = 0.15,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT MLM masking (spec §4.3): returns (masked input_ids, mlm_labels), both long (B', Lt).

    Each non-special, non-pad token is selected with `prob`; selected tokens become [MASK] (80 %),
    a random id (10 %) or stay (10 %). Labels hold the original id at selected positions, -100 elsewhere.
    """
    ids = input_ids.clone()
    can = attention_mask.bool() & ~torch.isin(ids, torch.tensor(list(special), dtype=ids.dtype))
    probs = torch.full(ids.shape, prob)
    selected = torch.bernoulli(probs, generator=generator).bool() & can
    labels = torch.where(selected, input_ids, torch.full_like(input_ids, -100))
    to_mask = torch.bernoulli(torch.full(ids.shape, 0.8), generator=generator).bool() & selected
    ids[to_mask] = mask_id
    to_random = torch.bernoulli(torch.full(ids.shape, 0.5), generator=generator).bool() & selected & ~to_mask
    ids[to_random] = torch.randint(vocab_size, ids.shape, generator=generator, dtype=ids.dtype)[to_random]
    return ids, labels


def empty_frames(n_clips: int, num_frm: int, size: int) -> torch.Tensor:
    return torch.zeros((0, n_clips, num_frm, 3, size, size), dtype=torch.uint8)


def collate_items(items: Sequence[dict[str, Any] | None], tokenizer: Any, max_txt_len: int, *,
                  frame_shape: tuple[int, int, int], per_video_labels: bool = False) -> dict[str, Any]:
    """Stack kept items into the contract batch. `frame_shape` = (N, T, L) for an empty batch.

    `per_video_labels`: labels are one per video (multiple choice), not one per text.
    """
    kept = [it for it in items if it is not None]
    n_skipped = len(items) - len(kept)
    texts = [t for it in kept for t in it["texts"]]
    frames = torch.stack([it["frames"] for it in kept]) if kept else empty_frames(*frame_shape)
    if texts:
        input_ids, attention_mask = tokenize(tokenizer, texts, max_txt_len)
    else:
        input_ids = attention_mask = torch.zeros((0, max_txt_len), dtype=torch.long)
    labels = [lab for it in kept for lab in it["labels"]]
    batch: dict[str, Any] = {
        "frames": frames,  # uint8 (B, N, T, 3, L, L)
        "input_ids": input_ids,  # (B', Lt)
        "attention_mask": attention_mask,
        "repeats": torch.tensor([len(it["texts"]) for it in kept], dtype=torch.long),  # (B,)
        "labels": torch.tensor(labels, dtype=torch.long),  # (B',) or (B,) for mc
        "meta": [m for it in kept for m in it["meta"]],
        "n_skipped": n_skipped,
    }
    if per_video_labels and len(labels) != len(kept):
        raise AssertionError("multiple choice items carry exactly one label")
    if kept and "targets" in kept[0]:
        batch["targets"] = torch.cat([it["targets"] for it in kept])  # float (B', num_labels)
    return batch


def add_mlm(batch: dict[str, Any], tokenizer: Any, prob: float, generator: torch.Generator | None) -> None:
    """Mask batch["input_ids"] in place for MLM and add batch["mlm_labels"]."""
    ids, labels = mask_tokens(batch["input_ids"], batch["attention_mask"],
                              mask_id=int(tokenizer.mask_token_id), vocab_size=len(tokenizer),
                              special=special_ids(tokenizer), prob=prob, generator=generator)
    batch["input_ids"], batch["mlm_labels"] = ids, labels
