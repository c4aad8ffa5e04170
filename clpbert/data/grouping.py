"""Training groups for images with several texts, cut as the original cuts them (spec §1.8).

The texts of each image/video are kept in file order and cut into consecutive chunks of k
(`data.max_n_example_per_group`). In training a last chunk shorter than k is padded with texts of
the same image drawn at random with replacement; in evaluation it is left short. Every chunk is
one group (one dataloader item), so an epoch visits every text at least once and has
Σ⌈n_i/k⌉ groups. The chunking is done once, when the dataset is built, not per epoch.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from typing import Any

from clpbert.data.txt_db import KEY_FIELDS, record_key  # noqa: F401 (one home: torch-free txt_db)

Record = dict[str, Any]
def by_key(records: Iterable[Record], key_of: Callable[[Record], str]) -> dict[str, list[Record]]:
    """Records grouped by their image/video key, keys in first-seen order, records in file order."""
    out: dict[str, list[Record]] = {}
    for r in records:
        out.setdefault(key_of(r), []).append(r)
    return out


def chunk_groups(records: list[Record], k: int, key_of: Callable[[Record], str], *, pad: bool,
                 rng: random.Random) -> list[list[Record]]:
    """One group per chunk of k texts of the same key; k <= 1: one group per record, file order.

    `pad`: fill a short last chunk with texts of the same key drawn with replacement (training).
    """
    if k <= 1:
        return [[r] for r in records]
    groups: list[list[Record]] = []
    for texts in by_key(records, key_of).values():
        for start in range(0, len(texts), k):
            chunk = texts[start:start + k]
            if pad and len(chunk) < k:
                chunk = chunk + rng.choices(texts, k=k - len(chunk))
            groups.append(chunk)
    return groups


def count_groups(keys: Iterable[str], k: int) -> int:
    """Σ⌈n_i/k⌉ over the keys' text counts n_i: the number of groups `chunk_groups` makes."""
    counts: dict[str, int] = {}
    n = 0
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
        n += 1
    if k <= 1:
        return n
    return sum(-(-c // k) for c in counts.values())
