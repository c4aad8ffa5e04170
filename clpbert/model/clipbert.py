"""ClipBERT: the grid-feature CNN, the multimodal BERT, the task heads and clip-score aggregation.

Flow (spec §1.1, §1.8, §1.9):
  encode_video: frames (B, N, T, 3, L, L) -> CNN on all B*N*T frames at once -> (B, N, T, h, w, D)
                -> mean over T -> visual (B, N, h, w, D). Runs once per video.
  score:        visual rows repeated per text (`repeats`), every clip a separate sequence
                [text (Lt) ; visual (h*w)] through BERT -> head -> logits (B', N, K).
The original runs one full forward per clip; stacking clips into the batch dimension gives the
same result (FrozenBN and the transformer treat each row independently) in one forward.
Clips are combined over *logits* with mean / max / logsumexp (`aggregate_clip_scores`).

Names match the released checkpoint: `cnn.feature.backbone.*`, `cnn.grid_encoder.0.weight`,
`transformer.bert.{embeddings,visual_embeddings,encoder,pooler}.*`, `transformer.cls.*`
(pretraining) or `transformer.classifier.{0,2}.*` (finetuning).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from clpbert.config import ModelConfig, TaskConfig
from clpbert.model.backbone import GridFeatCNN
from clpbert.model.bert import Encoder, Pooler, PreTrainingHeads
from clpbert.model.embeddings import TextEmbeddings, VisualEmbeddings

HEADS = ("pretrain", "qa", "mc", "retrieval")
AGGREGATIONS = ("mean", "max", "lse")


@dataclass
class PretrainOutput:
    """Pretraining head outputs. mlm_logits: (B', Lt, V) text positions only; itm_logits: (B', 2)."""

    mlm_logits: torch.Tensor
    itm_logits: torch.Tensor


class MultimodalBert(nn.Module):
    """`transformer.bert`: text + visual embeddings, the encoder and the pooler."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.embeddings = TextEmbeddings(cfg)
        self.visual_embeddings = VisualEmbeddings(cfg)
        self.encoder = Encoder(cfg)
        self.pooler = Pooler(cfg)

    def forward(self, visual: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """visual (M, h, w, D), input_ids/attention_mask (M, Lt) -> sequence (M, Lt+Nv, D), pooled (M, D)."""
        txt = self.embeddings(input_ids)  # (M, Lt, D)
        vis = self.visual_embeddings(visual)  # (M, Nv, D)
        seq = torch.cat([txt, vis.to(txt.dtype)], dim=1)
        mask = torch.cat([attention_mask, attention_mask.new_ones(vis.shape[:2])], dim=1)  # visual unmasked
        seq = self.encoder(seq, mask)
        return seq, self.pooler(seq)


class ClipBertTransformer(nn.Module):
    """`transformer`: the multimodal BERT plus one head (pretraining heads or the task MLP)."""

    def __init__(self, cfg: ModelConfig, head: str, num_labels: int) -> None:
        super().__init__()
        self.head = head
        self.bert = MultimodalBert(cfg)
        if head == "pretrain":
            self.cls = PreTrainingHeads(cfg)
            self.cls.predictions.decoder.weight = self.bert.embeddings.word_embeddings.weight  # tied
        else:
            self.dropout = nn.Dropout(cfg.hidden_dropout)
            self.classifier = nn.Sequential(nn.Linear(cfg.hidden_size, cfg.classifier_hidden), nn.ReLU(),
                                            nn.Linear(cfg.classifier_hidden, num_labels))
        self.apply(_init_bert_weights)
        with torch.no_grad():  # after apply: the tied decoder's init also wrote the padding row
            self.bert.embeddings.word_embeddings.weight[0].zero_()

    def forward(self, visual: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                ) -> torch.Tensor | PretrainOutput:
        seq, pooled = self.bert(visual, input_ids, attention_mask)
        if self.head == "pretrain":
            mlm = self.cls.predictions(seq[:, : input_ids.shape[1]])  # text positions only
            return PretrainOutput(mlm_logits=mlm, itm_logits=self.cls.seq_relationship(pooled))
        return self.classifier(self.dropout(pooled))  # (M, K)


def _init_bert_weights(m: nn.Module) -> None:
    """BERT init (spec §2.4): Linear/Embedding normal(0, 0.02), LayerNorm (1, 0), biases 0."""
    if isinstance(m, (nn.Linear, nn.Embedding)):
        nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


class ClipBert(nn.Module):
    """The whole model: `cnn` (GridFeatCNN) and `transformer` (ClipBertTransformer)."""

    def __init__(self, model_cfg: ModelConfig, head: str, num_labels: int) -> None:
        super().__init__()
        if head not in HEADS:
            raise ValueError(f"unknown head {head!r}; expected one of {HEADS}")
        self.config = model_cfg
        self.head = head
        self.num_labels = num_labels
        self.cnn = GridFeatCNN(model_cfg)
        self.transformer = ClipBertTransformer(model_cfg, head, num_labels)

    # -- forward ------------------------------------------------------------------------------
    def encode_video(self, frames: torch.Tensor) -> torch.Tensor:
        """frames uint8|float RGB (B, N, T, 3, L, L) -> visual (B, N, h, w, D), mean over the T frames."""
        b, n, t = frames.shape[:3]
        grid = self.cnn(frames.flatten(0, 2))  # (B*N*T, D, h, w)
        d, h, w = grid.shape[1:]
        grid = grid.view(b, n, t, d, h, w).mean(dim=2)  # temporal mean pooling: (B, N, D, h, w)
        return grid.permute(0, 1, 3, 4, 2)  # (B, N, h, w, D)

    def score(self, visual: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor,
              repeats: torch.Tensor | None = None) -> torch.Tensor | PretrainOutput:
        """visual (B, N, h, w, D) + texts (B', Lt) with `repeats` (B,) texts per video -> logits (B', N, K).

        Pretraining returns a `PretrainOutput`; with N > 1 clips its logits are averaged over clips.
        repeats=None means one text per video (B' = B).
        """
        n = visual.shape[1]
        if repeats is not None:
            # checked where it costs no device sync and no graph break
            if repeats.device.type == "cpu" and not torch.compiler.is_compiling() \
                    and int(repeats.sum()) != input_ids.shape[0]:
                raise ValueError(f"repeats sum to {int(repeats.sum())}, not to {input_ids.shape[0]} texts")
            visual = visual.repeat_interleave(repeats.to(visual.device), dim=0,
                                              output_size=input_ids.shape[0])  # (B', N, h, w, D)
        if visual.shape[0] != input_ids.shape[0]:
            raise ValueError(f"{visual.shape[0]} visual rows for {input_ids.shape[0]} texts; "
                             "repeats must sum to the number of texts")
        bt = input_ids.shape[0]
        ids = input_ids.repeat_interleave(n, dim=0)  # (B'*N, Lt): text i pairs with each of its N clips
        mask = attention_mask.repeat_interleave(n, dim=0)
        out = self.transformer(visual.flatten(0, 1), ids, mask)
        if isinstance(out, PretrainOutput):
            return PretrainOutput(mlm_logits=out.mlm_logits.view(bt, n, *out.mlm_logits.shape[1:]).mean(1),
                                  itm_logits=out.itm_logits.view(bt, n, -1).mean(1))
        return out.view(bt, n, -1)  # (B', N, K)

    def forward(self, frames: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                repeats: torch.Tensor | None = None) -> torch.Tensor | PretrainOutput:
        return self.score(self.encode_video(frames), input_ids, attention_mask, repeats)

    # -- helpers for the trainer ---------------------------------------------------------------
    def named_cnn_parameters(self) -> Iterator[tuple[str, nn.Parameter]]:
        """Trainable CNN parameters with full names (`cnn.…`; the lr multiplier matches `grid_encoder`)."""
        return ((n, p) for n, p in self.named_parameters() if n.startswith("cnn.") and p.requires_grad)

    def named_transformer_parameters(self) -> Iterator[tuple[str, nn.Parameter]]:
        """Trainable transformer parameters with full names (`transformer.…`)."""
        return ((n, p) for n, p in self.named_parameters()
                if n.startswith("transformer.") and p.requires_grad)

    def cnn_parameters(self) -> list[nn.Parameter]:
        return [p for _, p in self.named_cnn_parameters()]

    def transformer_parameters(self) -> list[nn.Parameter]:
        return [p for _, p in self.named_transformer_parameters()]

    def freeze_cnn(self) -> None:
        """Stop training the whole CNN (optim.freeze_cnn)."""
        for p in self.cnn.parameters():
            p.requires_grad_(False)

    def to_channels_last(self) -> ClipBert:
        """channels_last CNN weights and inputs (faster convolutions on tensor cores)."""
        self.cnn.to(memory_format=torch.channels_last)
        self.cnn.channels_last = True
        return self

    def set_attention(self, impl: str) -> None:
        """`sdpa` (default) or `eager` (matmul+softmax, the original's kernel; for baselines/tests)."""
        if impl not in ("sdpa", "eager"):
            raise ValueError(f"attention impl {impl!r}: expected sdpa or eager")
        for layer in self.transformer.bert.encoder.layer:
            layer.attention.self.impl = impl


def resolve_num_labels(task_cfg: TaskConfig, num_labels: int | None = None) -> int:
    """Output width K of the head: qa max(num_labels, min_num_labels); mc 1; retrieval 2 (ce) / 1 (rank)."""
    head = task_cfg.head
    if head == "mc":
        return 1
    if head == "retrieval":
        return 1 if task_cfg.loss_type == "rank" else 2
    if head == "pretrain":
        return 2
    k = num_labels if num_labels is not None else task_cfg.num_labels
    return max(k, task_cfg.min_num_labels)


def build_model(model_cfg: ModelConfig, task_cfg: TaskConfig, num_labels: int | None = None) -> ClipBert:
    """A randomly initialised ClipBert for the task's head (load weights with clpbert.model.weights)."""
    return ClipBert(model_cfg, task_cfg.head, resolve_num_labels(task_cfg, num_labels))


# -- clip-score aggregation and losses (spec §1.9, §4.3) -----------------------------------------


def aggregate_clip_scores(logits: torch.Tensor, how: str) -> torch.Tensor:
    """(B', N, K) -> (B', K): mean, element-wise max, or logsumexp over the clip axis."""
    if how == "mean":
        return logits.mean(dim=1)
    if how == "max":
        return logits.amax(dim=1)
    if how == "lse":
        return torch.logsumexp(logits, dim=1)
    raise ValueError(f"unknown score_agg_func {how!r}; expected one of {AGGREGATIONS}")


def mc_option_logits(logits: torch.Tensor, num_options: int) -> torch.Tensor:
    """Multiple choice: (B*options, N, 1) -> (B, N, options), ready for `clip_loss` over options."""
    bo, n, _ = logits.shape
    return logits.view(bo // num_options, num_options, n).transpose(1, 2)


def clip_loss(logits: torch.Tensor, labels: torch.Tensor, how: str, loss_type: str = "ce",
              margin: float = 0.2) -> torch.Tensor:
    """Scalar loss of clip logits (B', N, K).

    ce:   cross-entropy on the aggregated logits, averaged over B'. With `lse` this is exactly
          mean_i [logsumexp_{c,k} logits[i,c,k] - logsumexp_c logits[i,c,y_i]] (spec §1.9).
    bce:  VQA soft scores (B', K): BCE-with-logits averaged over all elements, times K.
    rank: retrieval with one output (K=1): hinge max(0, margin + s_neg - s_pos) on sigmoid
          scores, each video's positive (label 1) against its negatives (label 0), averaged.
    """
    if how == "lse" and loss_type != "ce":
        raise ValueError("score_agg_func=lse needs loss_type=ce (spec §1.9)")
    z = aggregate_clip_scores(logits.float(), how)  # (B', K)
    if loss_type == "ce":
        return F.cross_entropy(z, labels)
    if loss_type == "bce":
        return F.binary_cross_entropy_with_logits(z, labels.float()) * z.shape[1]
    if loss_type == "rank":
        return rank_loss(z[:, 0].sigmoid(), labels, margin)
    raise ValueError(f"unknown loss_type {loss_type!r}; expected ce, bce or rank")


def rank_loss(scores: torch.Tensor, labels: torch.Tensor, margin: float) -> torch.Tensor:
    """Hinge ranking loss (B',) sigmoid scores in groups [positive, negatives...] per video."""
    pos = scores[labels == 1]  # (B,)
    neg = scores[labels == 0].view(pos.shape[0], -1)  # (B, itm_neg_size)
    return torch.clamp(margin + neg - pos[:, None], min=0).mean()
