"""The BERT word-piece tokenizer, loaded from a local directory (nothing is downloaded here).

Every text becomes exactly `max_len` ids ([CLS] ... [SEP] [PAD]...), truncated when longer, as the
original's `pad_to_max_length=True` did (spec §1.6).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from clpbert.errors import UserError

_FIX = "run `clpbert download bert-base-uncased` or set data.tokenizer to a directory holding vocab.txt"


def load_tokenizer(path: str | os.PathLike[str], do_lower_case: bool = True) -> Any:
    """A transformers.BertTokenizerFast from a local directory with vocab.txt (or tokenizer.json)."""
    p = Path(path)
    if not p.is_dir():
        raise UserError(f"tokenizer directory {p} does not exist; {_FIX}")
    if not (p / "vocab.txt").is_file() and not (p / "tokenizer.json").is_file():
        raise UserError(f"tokenizer directory {p} has no vocab.txt or tokenizer.json; {_FIX}")
    from transformers import BertTokenizerFast

    try:
        return BertTokenizerFast.from_pretrained(str(p), do_lower_case=do_lower_case, local_files_only=True)
    except (OSError, ValueError) as e:
        raise UserError(f"cannot load the tokenizer in {p} ({str(e).splitlines()[0]}); {_FIX}") from None


def tokenize(tok: Any, texts: Sequence[str], max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids long (B, max_len), attention_mask long (B, max_len))."""
    enc = tok(list(texts), padding="max_length", truncation=True, max_length=max_len, return_tensors="pt")
    return enc["input_ids"].long(), enc["attention_mask"].long()


def special_ids(tok: Any) -> list[int]:
    """Ids that MLM never masks: [CLS], [SEP], [PAD], [MASK], [UNK] and any other special token."""
    return sorted({int(i) for i in tok.all_special_ids})
