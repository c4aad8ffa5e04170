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
from clpbert.predictions import schema
from clpbert.train import metrics
from clpbert.train.tasks.base import EvalContext, LossOutput, Task

COLUMNS = ("t2v/r1", "t2v/r5", "t2v/r10", "t2v/mdr", "v2t/r1", "v2t/r5", "v2t/r10", "v2t/mdr")


@dataclass
class RetrievalTask(Task):
    head: str = "retrieval"
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
        matrix, gt, keys = self.score_matrix(columns, data.texts)
        if ctx.save_predictions and ctx.dist.is_main:
            ctx.keep_predictions(schema.RETRIEVAL, self.prediction_rows(matrix, gt, keys, data.texts),
                                 len(data.texts))
        return self.matrix_metrics(matrix, gt)

    @staticmethod
    def score_matrix(columns: list[dict[str, Any]],
                     texts: list[dict[str, Any]]) -> tuple[torch.Tensor, list[int], list[str]]:
        """(n_text, n_video) float64 P(match), each text's GT column, and the video key per column.

        A text whose GT video was skipped gets a column of -inf (ranked last: a miss)."""
        index = {c["uid"]: j for j, c in enumerate(columns)}
        cols = [c["scores"].double() for c in columns]
        keys = [str(c["uid"]) for c in columns]
        n_text = len(texts)
        for t in texts:
            if t["video_id"] not in index:
                index[t["video_id"]] = len(cols)
                cols.append(torch.full((n_text,), float("-inf"), dtype=torch.float64))
                keys.append(str(t["video_id"]))
        matrix = torch.stack(cols, dim=1)  # (n_text, n_video)
        return matrix, [index[t["video_id"]] for t in texts], keys

    @classmethod
    def metrics(cls, columns: list[dict[str, Any]], texts: list[dict[str, Any]]) -> dict[str, float]:
        """Score columns per video + the texts' GT videos -> t2v/v2t metrics."""
        matrix, gt, _ = cls.score_matrix(columns, texts)
        return cls.matrix_metrics(matrix, gt)

    @staticmethod
    def matrix_metrics(matrix: torch.Tensor, gt: list[int]) -> dict[str, float]:
        out = metrics.retrieval_metrics(matrix, gt)
        out["n"] = float(matrix.shape[0])
        return out

    @staticmethod
    def prediction_rows(matrix: torch.Tensor, gt: list[int], keys: list[str],
                        texts: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One t2v row per text and one v2t row per video that has texts (ranks as `retrieval_metrics`
        counts them: ties go to the earlier column/row), with the top-5 of each."""
        n_text, n_video = matrix.shape
        gt_t = torch.tensor(gt, dtype=torch.long)
        t2v_rank = _tie_ranks(matrix, gt_t)
        k = min(schema.TOP_K, n_video)
        top_v = torch.sort(matrix, dim=1, descending=True, stable=True)
        rows = []
        for i, t in enumerate(texts):
            idx = top_v.indices[i, :k].tolist()
            rank = int(t2v_rank[i])
            rows.append(schema.record(
                example_id=t["text_id"], video_key=keys[gt[i]], type="t2v", text=t["caption"],
                answer=keys[gt[i]], pred=keys[idx[0]], correct=rank == 1, score=float(matrix[i, gt[i]]),
                rank=rank, candidates=[keys[j] for j in idx], candidate_scores=top_v.values[i, :k].tolist()))
        # video -> text: each video with texts, the best-ranked of its texts is its ground truth
        cols = sorted(set(gt))
        by_col = torch.tensor(cols, dtype=torch.long)
        vt = matrix.t()[by_col]  # (n_video_with_texts, n_text)
        where = {c: j for j, c in enumerate(cols)}
        owner = torch.tensor([where[g] for g in gt], dtype=torch.long)
        own_rank = torch.empty(n_text, dtype=torch.long)  # each text's rank within its own video's row
        for start in range(0, n_text, 1024):
            chunk = torch.arange(start, min(start + 1024, n_text))
            own_rank[chunk] = _tie_ranks(vt[owner[chunk]], chunk)
        best: dict[int, tuple[int, int]] = {}
        for ti, (j, r) in enumerate(zip(owner.tolist(), own_rank.tolist(), strict=True)):
            if j not in best or r < best[j][0]:
                best[j] = (r, ti)
        kt = min(schema.TOP_K, n_text)
        top_t = torch.sort(vt, dim=1, descending=True, stable=True)
        for j, c in enumerate(cols):
            rank, ti = best[j]
            idx = top_t.indices[j, :kt].tolist()
            rows.append(schema.record(
                example_id=keys[c], video_key=keys[c], type="v2t", text=texts[ti]["caption"],
                answer=texts[ti]["caption"], pred=texts[idx[0]]["caption"], correct=rank == 1,
                score=float(vt[j, ti]), rank=rank, candidates=[texts[i]["caption"] for i in idx],
                candidate_scores=top_t.values[j, :kt].tolist()))
        return rows


def _tie_ranks(scores: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """1-based rank of column gt[i] in row i: higher scores, then equal scores in earlier columns."""
    s = scores.gather(1, gt[:, None])  # (n, 1)
    earlier = torch.arange(scores.shape[1])[None, :] < gt[:, None]
    return (scores > s).sum(1) + ((scores == s) & earlier).sum(1) + 1


MSRVTT_RET = RetrievalTask("msrvtt_ret", description="MSRVTT text-to-video retrieval (1k-A)")
DIDEMO_RET = RetrievalTask("didemo_ret", description="DiDeMo paragraph-to-video retrieval")
ANET_RET = RetrievalTask("anet_ret", description="ActivityNet Captions paragraph-to-video retrieval")
