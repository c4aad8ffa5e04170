"""Text and visual input embeddings (names as HF BertEmbeddings and ClipBERT's VisualInputEmbedding).

Text: word + absolute position (0..Lt-1) + token type 0, LayerNorm(1e-12), dropout.
Visual (spec §1.5): grid (B, h, w, D) + row[h] + col[w], flattened row-major, optionally a sorted
random subset of tokens (pretraining, train mode), + the single visual token type, LayerNorm,
dropout. The visual `position_embeddings` table is never used but exists so that the released
checkpoint loads strictly. No `position_ids` buffer: the released state dict has none.
"""

from __future__ import annotations

import torch
from torch import nn

from clpbert.config import ModelConfig


class TextEmbeddings(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(cfg.vocab_size, cfg.hidden_size, padding_idx=0)
        self.position_embeddings = nn.Embedding(cfg.max_position_embeddings, cfg.hidden_size)
        self.token_type_embeddings = nn.Embedding(2, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=1e-12)
        self.dropout = nn.Dropout(cfg.hidden_dropout)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        lt = input_ids.shape[1]
        x = self.word_embeddings(input_ids)  # (B', Lt, D)
        x = x + self.position_embeddings.weight[:lt] + self.token_type_embeddings.weight[0]
        return self.dropout(self.LayerNorm(x))


class VisualEmbeddings(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        d = cfg.hidden_size
        self.position_embeddings = nn.Embedding(cfg.max_position_embeddings, d)  # unused (spec §1.5)
        self.position_embeddings.weight.requires_grad_(False)  # no gradient ever: keeps DDP happy
        self.row_position_embeddings = nn.Embedding(cfg.max_grid_size, d)
        self.col_position_embeddings = nn.Embedding(cfg.max_grid_size, d)
        self.token_type_embeddings = nn.Embedding(1, d)
        self.LayerNorm = nn.LayerNorm(d, eps=1e-12)
        self.dropout = nn.Dropout(cfg.hidden_dropout)
        self.pixel_random_sampling_size = cfg.pixel_random_sampling_size

    def forward(self, grid: torch.Tensor) -> torch.Tensor:
        """grid (M, h, w, D) -> tokens (M, h*w or sampled, D)."""
        m, h, w, d = grid.shape
        if h > self.row_position_embeddings.num_embeddings or w > self.col_position_embeddings.num_embeddings:
            raise ValueError(f"visual grid {h}x{w} exceeds max_grid_size "
                             f"{self.row_position_embeddings.num_embeddings}; lower the image size")
        x = grid + self.row_position_embeddings.weight[:h].view(1, h, 1, d) \
            + self.col_position_embeddings.weight[:w].view(1, 1, w, d)
        x = x.reshape(m, h * w, d)  # row-major: token r*w + c
        k = self.pixel_random_sampling_size
        if self.training and 0 < k < h * w:
            keep = torch.randperm(h * w, device=x.device)[:k].sort().values  # one subset per batch
            x = x[:, keep]
        x = x + self.token_type_embeddings.weight[0]
        return self.dropout(self.LayerNorm(x))
