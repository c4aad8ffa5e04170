"""The local BertTokenizerFast: fixed length, [CLS]/[SEP], truncation, clear error when absent."""

from __future__ import annotations

import pytest

from clpbert.data.tokenizer import load_tokenizer, tokenize
from clpbert.errors import UserError


def test_every_text_is_exactly_max_len(tokenizer):
    long = "the dog sits on a red ball and a blue car in the video"
    ids, mask = tokenize(tokenizer, ["a man runs", long], 8)
    assert ids.shape == mask.shape == (2, 8)
    cls, sep, pad = tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id
    assert ids[0].tolist()[:5] == [cls, *tokenizer.convert_tokens_to_ids(["a", "man", "runs"]), sep]
    assert ids[0, 5:].tolist() == [pad] * 3 and mask[0].tolist() == [1] * 5 + [0] * 3
    assert ids[1, -1] == sep and mask[1].all()  # truncated, still ends with [SEP]


def test_uppercase_is_lowered(tokenizer):
    assert tokenize(tokenizer, ["A MAN"], 4)[0].tolist() == tokenize(tokenizer, ["a man"], 4)[0].tolist()


def test_missing_tokenizer_names_the_fix(tmp_path):
    with pytest.raises(UserError, match="clpbert download bert-base-uncased"):
        load_tokenizer(tmp_path / "none")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match=r"no vocab\.txt"):
        load_tokenizer(tmp_path / "empty")
