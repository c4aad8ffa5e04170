"""Text-to-video retrieval (MSRVTT, DiDeMo and ActivityNet paragraphs).

Training: each video comes with its caption (label 1) and itm_neg_size random captions of other
videos (label 0); 2-way cross-entropy on the lse-aggregated clip logits (spec §4.3), or with
task.loss_type=rank one output and a hinge (margin task.margin) on sigmoid scores.
Evaluation (spec §4.4): the full #texts x #videos matrix of P(match) = softmax(z)[:, 1] (sigmoid(z)
with rank). Each rank takes a shard of the videos, runs the CNN once per video (`encode_video`) and
scores every text against it in chunks of eval.eval_retrieval_batch_size (`score`); the per-video score
columns are gathered from all ranks and deduplicated, then R@1/5/10, median and mean rank are
computed in both directions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from clpbert.config import RunConfig
from clpbert.model import aggregate_clip_scores, clip_loss
from clpbert.train import metrics
from clpbert.train.tasks.base import EvalContext, LossOutput, Task, register_task

COLUMNS = ("t2v/r1", "t2v/r5", "t2v/r10", "t2v/mdr", "v2t/r1", "v2t/r5", "v2t/r10", "v2t/mdr")


@dataclass
class RetrievalTask(Task):
    head: str = "retrieval"
    dataset_kind: str = "retrieval"
    default_metric: str = "t2v/r1"
    eval_columns: tuple[str, ...] = COLUMNS

    def loss(self, model, batch: dict[str, Any], cfg: RunConfig) -> LossOutput:
        logits = model(batch["frames"], batch["input_ids"], batch["attention_mask"], batch["repeats"])
        return LossOutput(clip_loss(logits, batch["labels"], cfg.task.score_agg_func, cfg.task.loss_type,
                                    cfg.task.margin))

    @torch.no_grad()
    def video_scores(self, ctx: EvalContext, visual: torch.Tensor, input_ids: torch.Tensor,
                     attention_mask: torch.Tensor) -> torch.Tensor:
        """visual (1, N, h, w, D) against all texts (n_text, Lt) -> P(match) (n_text,)."""
        chunk = max(ctx.cfg.eval.eval_retrieval_batch_size, 1)
        out = []
        for start in range(0, input_ids.shape[0], chunk):
            ids = input_ids[start:start + chunk].to(ctx.device, non_blocking=True)
            mask = attention_mask[start:start + chunk].to(ctx.device, non_blocking=True)
            repeats = torch.tensor([ids.shape[0]], device=ctx.device)
            with ctx.autocast():
                logits = ctx.model.score(visual, ids, mask, repeats)  # (chunk, N, 2)
            z = aggregate_clip_scores(logits.float(), ctx.cfg.task.score_agg_func)
            out.append(z.softmax(dim=-1)[:, 1] if z.shape[-1] == 2 else z[:, 0].sigmoid())
        return torch.cat(out).cpu()

    def evaluate(self, ctx: EvalContext, data: Any) -> dict[str, float]:
        columns: list[dict[str, Any]] = []
        for batch in ctx.batches(data.videos, batch_size=max(1, ctx.cfg.data.inference_batch_size // 8)):
            if batch["frames"].shape[0] == 0:
                continue
            with torch.no_grad(), ctx.autocast():
                visual = ctx.model.encode_video(batch["frames"])  # (B, N, h, w, D): CNN once per video
            for i, vid in enumerate(batch["video_ids"]):
                scores = self.video_scores(ctx, visual[i:i + 1], data.input_ids, data.attention_mask)
                columns.append({"uid": vid, "scores": scores})
        columns = metrics.dedup_records(ctx.gather(columns))
        return self.metrics(columns, data.texts)

    @staticmethod
    def metrics(columns: list[dict[str, Any]], texts: list[dict[str, Any]]) -> dict[str, float]:
        """Score columns per video + the texts' GT videos -> t2v/v2t metrics.

        A text whose GT video was skipped gets a column of -inf (ranked last: a miss)."""
        index = {c["uid"]: j for j, c in enumerate(columns)}
        cols = [c["scores"].double() for c in columns]
        n_text = len(texts)
        for t in texts:
            if t["video_id"] not in index:
                index[t["video_id"]] = len(cols)
                cols.append(torch.full((n_text,), float("-inf"), dtype=torch.float64))
        matrix = torch.stack(cols, dim=1)  # (n_text, n_video)
        out = metrics.retrieval_metrics(matrix, [index[t["video_id"]] for t in texts])
        out["n"] = float(n_text)
        return out


register_task(RetrievalTask("msrvtt_ret", description="MSRVTT text-to-video retrieval (1k-A)"))
register_task(RetrievalTask("didemo_ret", description="DiDeMo paragraph-to-video retrieval"))
register_task(RetrievalTask("anet_ret", description="ActivityNet Captions paragraph-to-video retrieval"))
