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
from clpbert.predictions import schema
from clpbert.train import metrics
from clpbert.train.tasks.base import EvalContext, LossOutput, Task


@dataclass
class QATask(Task):
    head: str = "qa"
    default_metric: str = "acc"
    eval_columns: tuple[str, ...] = ("acc",)

    def loss(self, model, batch: dict[str, Any], cfg: RunConfig) -> LossOutput:
        logits = model(batch["frames"], batch["input_ids"], batch["attention_mask"], batch["repeats"])
        target = batch["targets"] if cfg.task.loss_type == "bce" else batch["labels"]
        loss = clip_loss(logits, target, cfg.task.score_agg_func, cfg.task.loss_type)
        return LossOutput(loss)

    @torch.no_grad()
    def label_scores(self, ctx: EvalContext, batch: dict[str, Any]) -> torch.Tensor:
        """Clip-aggregated logits per text (B', num_labels)."""
        with ctx.autocast():
            logits = ctx.model(batch["frames"], batch["input_ids"], batch["attention_mask"], batch["repeats"])
        return aggregate_clip_scores(logits.float(), ctx.cfg.task.score_agg_func)

    def predict(self, ctx: EvalContext, batch: dict[str, Any]) -> torch.Tensor:
        """Predicted label per text (B',)."""
        return self.label_scores(ctx, batch).argmax(dim=-1)

    def evaluate(self, ctx: EvalContext, dataset: Any) -> dict[str, float]:
        records: list[dict[str, Any]] = []
        for batch in ctx.batches(dataset):
            if batch["frames"].shape[0] == 0:
                continue
            scores = self.label_scores(ctx, batch)
            preds = scores.argmax(dim=-1).cpu()
            extra = self._prediction_fields(ctx, scores, batch) if ctx.save_predictions else None
            soft = batch.get("targets")
            for row, (meta, pred, label) in enumerate(zip(batch["meta"], preds.tolist(),
                                                          batch["labels"].tolist(), strict=True)):
                rec = {"uid": meta.get("question_id", row), "pred": pred, "label": label,
                       "type": meta.get("answer_type")}
                if soft is not None:
                    rec["score"] = float(soft[row, pred]) if pred < soft.shape[1] else 0.0
                if extra is not None:
                    rec.update(extra[row], video=meta.get("video_id"), question=meta.get("question"),
                               answer=meta.get("answer"))
                records.append(rec)
        records = metrics.dedup_records(ctx.gather(records))
        out = self.metrics(records, expected=len(dataset))
        if ctx.save_predictions and ctx.dist.is_main:  # every rank gathered the rows; one writes them
            ctx.keep_predictions(schema.QA, self.prediction_rows(records, dataset), len(dataset))
        return out

    def _prediction_fields(self, ctx: EvalContext, scores: torch.Tensor,
                           batch: dict[str, Any]) -> list[dict[str, Any]]:
        """Per text: top-k label ids and probabilities, and the ground truth's rank among all labels."""
        probs = scores.sigmoid() if ctx.cfg.task.loss_type == "bce" else scores.softmax(dim=-1)
        top = probs.topk(min(schema.TOP_K, probs.shape[-1]), dim=-1)
        labels = batch["labels"].to(probs.device)
        valid = (labels >= 0) & (labels < probs.shape[-1])
        gt = probs.gather(1, labels.clamp(0, probs.shape[-1] - 1)[:, None])  # (B', 1)
        ranks = ((probs > gt).sum(-1) + 1).cpu().tolist()
        valid_l = valid.cpu().tolist()
        return [{"top": i, "top_p": p, "rank": r if ok else None}
                for i, p, r, ok in zip(top.indices.cpu().tolist(), top.values.cpu().tolist(), ranks, valid_l,
                                       strict=True)]

    @staticmethod
    def prediction_rows(records: list[dict[str, Any]], dataset: Any) -> list[dict[str, Any]]:
        """The gathered records as predictions.schema rows (answers by name, not label id)."""
        from clpbert.data.txt_db import label_names

        names = label_names(dataset.ans2label) if getattr(dataset, "ans2label", None) else []

        def name(i: int) -> str:
            return names[i] if 0 <= i < len(names) else f"<label {i}>"

        rows = []
        for r in records:
            soft = "score" in r
            credit = r["score"] if soft else float(r["pred"] == r["label"])
            answer = r.get("answer")
            if answer is None and r["label"] >= 0:
                answer = name(r["label"])
            rows.append(schema.record(
                example_id=r["uid"], video_key=r.get("video"), type=r["type"], text=r.get("question"),
                answer=answer, pred=name(r["pred"]), correct=credit > 0 if soft else r["pred"] == r["label"],
                credit=credit, score=r["top_p"][0], rank=r["rank"], candidates=[name(i) for i in r["top"]],
                candidate_scores=r["top_p"]))
        return rows

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

MSRVTT_QA = QATask("msrvtt_qa", eval_columns=("acc", *(f"acc/{t}" for t in MSRVTT_QA_TYPES)),
                   description="MSRVTT-QA open-ended video QA (1500 answers)")
TGIF_QA_FRAMEQA = QATask("tgif_qa_frameqa", eval_columns=("acc", *(f"acc/{t}" for t in FRAMEQA_TYPES)),
                         description="TGIF-QA FrameQA open-ended QA (1540 answers)")
VQA = QATask("vqa", eval_columns=("acc", "acc/yes/no", "acc/number", "acc/other"),
             description="VQA 2.0 image QA (soft-score BCE, 3129 answers)")
