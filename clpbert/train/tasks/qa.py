"""Open-ended video/image QA: a classifier over the answer vocabulary (MSRVTT-QA, FrameQA, VQA).

Loss: cross-entropy on the clip-aggregated logits (`lse` or `mean`, spec §1.9), or VQA's BCE on
soft scores. Evaluation: argmax answer vs the ground truth, overall and per answer type
(`acc/<type>`, from the records' `answer_type`); VQA uses the soft score of the predicted answer.
Answers outside the training vocabulary have label -100 and always count as wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from clpbert.config import RunConfig
from clpbert.model import aggregate_clip_scores, clip_loss
from clpbert.train import metrics
from clpbert.train.tasks.base import EvalContext, LossOutput, Task, register_task


@dataclass
class QATask(Task):
    head: str = "qa"
    dataset_kind: str = "qa"
    default_metric: str = "acc"
    eval_columns: tuple[str, ...] = ("acc",)

    def loss(self, model, batch: dict[str, Any], cfg: RunConfig) -> LossOutput:
        logits = model(batch["frames"], batch["input_ids"], batch["attention_mask"], batch["repeats"])
        target = batch["targets"] if cfg.task.loss_type == "bce" else batch["labels"]
        loss = clip_loss(logits, target, cfg.task.score_agg_func, cfg.task.loss_type)
        return LossOutput(loss)

    @torch.no_grad()
    def predict(self, ctx: EvalContext, batch: dict[str, Any]) -> torch.Tensor:
        """Predicted label per text (B',)."""
        with ctx.autocast():
            logits = ctx.model(batch["frames"], batch["input_ids"], batch["attention_mask"], batch["repeats"])
        return aggregate_clip_scores(logits.float(), ctx.cfg.task.score_agg_func).argmax(dim=-1)

    def evaluate(self, ctx: EvalContext, dataset: Any) -> dict[str, float]:
        records: list[dict[str, Any]] = []
        for batch in ctx.batches(dataset):
            if batch["frames"].shape[0] == 0:
                continue
            preds = self.predict(ctx, batch).cpu()
            soft = batch.get("targets")
            for row, (meta, pred, label) in enumerate(zip(batch["meta"], preds.tolist(),
                                                          batch["labels"].tolist(), strict=True)):
                rec = {"uid": meta.get("question_id", row), "pred": pred, "label": label,
                       "type": meta.get("answer_type")}
                if soft is not None:
                    rec["score"] = float(soft[row, pred]) if pred < soft.shape[1] else 0.0
                records.append(rec)
        records = metrics.dedup_records(ctx.gather(records))
        return self.metrics(records, expected=len(dataset))

    def metrics(self, records: list[dict[str, Any]], expected: int) -> dict[str, float]:
        """acc (+ acc/<type>); questions whose video was skipped count as wrong."""
        types = [r["type"] for r in records]
        if records and "score" in records[0]:
            out = metrics.scores_by_type([r["score"] for r in records], types)
        else:
            out = metrics.qa_accuracy([r["pred"] for r in records], [r["label"] for r in records], types)
        out["acc"] = out["acc"] * len(records) / max(expected, 1)
        out["n"] = float(len(records))
        return out


MSRVTT_QA_TYPES = ("what", "who", "how", "where", "when")
FRAMEQA_TYPES = ("object", "number", "color", "location")

register_task(QATask("msrvtt_qa", eval_columns=("acc", *(f"acc/{t}" for t in MSRVTT_QA_TYPES)),
                     description="MSRVTT-QA open-ended video QA (1500 answers)"))
register_task(QATask("tgif_qa_frameqa", eval_columns=("acc", *(f"acc/{t}" for t in FRAMEQA_TYPES)),
                     description="TGIF-QA FrameQA open-ended QA (1540 answers)"))
register_task(QATask("vqa", eval_columns=("acc", "acc/yes/no", "acc/number", "acc/other"),
                     description="VQA 2.0 image QA (soft-score BCE, 3129 answers)"))
