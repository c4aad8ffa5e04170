"""A post-LayerNorm BERT encoder with HF-identical parameter names and torch SDPA attention.

Written here instead of composing HF's `BertEncoder` because transformers 5.x changed the
attention internals (spec §8); the names (`attention.self.query`, `attention.output.LayerNorm`,
`intermediate.dense`, `output.dense` ...) match HF and the released checkpoint exactly, so HF
BERT directories and ClipBERT checkpoints load without renaming.

The padding mask is additive with the transformers-2.11 constant -10000 (spec §1.6); `eager`
attention (matmul + softmax) is kept as a switch for the fp16 baseline benchmark and for tests.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from clpbert.config import ModelConfig

MASK_VALUE = -10000.0


def extended_mask(attention_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(B, S) of 0/1 -> additive (B, 1, 1, S): 0 where attended, -10000 where padded."""
    return (1.0 - attention_mask[:, None, None, :].to(dtype)) * MASK_VALUE


class SelfAttention(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        d = cfg.hidden_size
        self.num_heads = cfg.num_heads
        self.query = nn.Linear(d, d)
        self.key = nn.Linear(d, d)
        self.value = nn.Linear(d, d)
        self.dropout_p = cfg.attention_dropout
        self.impl = "sdpa"

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        b, s, d = x.shape
        h = self.num_heads

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.view(b, s, h, d // h).transpose(1, 2)  # (B, H, S, dh)

        q, k, v = heads(self.query(x)), heads(self.key(x)), heads(self.value(x))
        mask = None if mask is None else mask.to(q.dtype)
        p = self.dropout_p if self.training else 0.0
        if self.impl == "sdpa":
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        else:
            scores = q @ k.transpose(-1, -2) * (d // h) ** -0.5
            if mask is not None:
                scores = scores + mask
            out = F.dropout(scores.softmax(-1), p, self.training) @ v
        return out.transpose(1, 2).reshape(b, s, d)


class SelfOutput(nn.Module):
    def __init__(self, cfg: ModelConfig, d_in: int) -> None:
        super().__init__()
        self.dense = nn.Linear(d_in, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=1e-12)
        self.dropout = nn.Dropout(cfg.hidden_dropout)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.self = SelfAttention(cfg)
        self.output = SelfOutput(cfg, cfg.hidden_size)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        return self.output(self.self(x, mask), x)


class Intermediate(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(cfg.hidden_size, cfg.intermediate_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.dense(x))  # exact erf GELU


class Layer(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.attention = Attention(cfg)
        self.intermediate = Intermediate(cfg)
        self.output = SelfOutput(cfg, cfg.intermediate_size)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        a = self.attention(x, mask)
        return self.output(self.intermediate(a), a)


class Encoder(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(Layer(cfg) for _ in range(cfg.num_layers))

    def forward(self, hidden: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """hidden (B, S, D), attention_mask (B, S) 0/1 or None -> (B, S, D)."""
        mask = None if attention_mask is None else extended_mask(attention_mask, hidden.dtype)
        for layer in self.layer:
            hidden = layer(hidden, mask)
        return hidden


class Pooler(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(cfg.hidden_size, cfg.hidden_size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.dense(hidden[:, 0]))  # the text [CLS] token


class PredictionTransform(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=1e-12)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(F.gelu(self.dense(x)))


class LMPrediction(nn.Module):
    """MLM head; `decoder.weight` is tied to the word embeddings, `decoder.bias` is `bias`."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.transform = PredictionTransform(cfg)
        self.decoder = nn.Linear(cfg.hidden_size, cfg.vocab_size)
        self.bias = nn.Parameter(torch.zeros(cfg.vocab_size))
        self.decoder.bias = self.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.transform(x))


class PreTrainingHeads(nn.Module):
    """`cls.predictions` (MLM) and `cls.seq_relationship` (ITM, 2-way on the pooled output)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.predictions = LMPrediction(cfg)
        self.seq_relationship = nn.Linear(cfg.hidden_size, 2)
