"""Multiple-choice QA: TGIF Action/Transition (trained) and MSRVTT-MC (evaluation only).

TGIF: each option is its own text `question + " " + option`; the head gives one score per
(text, clip); options are compared with cross-entropy over the 5 scores (spec §1.7, §4.3).
MSRVTT-MC scores the 5 candidate captions with a *retrieval* model: prediction = argmax over the
options of softmax(clip-aggregated logits)[:, 1] (spec §4.4).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from clpbert.config import RunConfig
from clpbert.model import aggregate_clip_scores, clip_loss, mc_option_logits
from clpbert.predictions import schema
from clpbert.train import metrics
from clpbert.train.tasks.base import EvalContext, LossOutput, Task


@dataclass
class MCTask(Task):
    head: str = "mc"
    default_metric: str = "acc"
    eval_columns: tuple[str, ...] = ("acc",)

    def loss(self, model, batch: dict[str, Any], cfg: RunConfig) -> LossOutput:
        logits = model(batch["frames"], batch["input_ids"], batch["attention_mask"], batch["repeats"])
        scores = mc_option_logits(logits, cfg.task.num_options)  # (B, N, options)
        return LossOutput(clip_loss(scores, batch["labels"], cfg.task.score_agg_func, "ce"))

    @torch.no_grad()
    def option_scores(self, ctx: EvalContext, batch: dict[str, Any]) -> torch.Tensor:
        """(B, options) scores; higher = more likely the answer."""
        with ctx.autocast():
            logits = ctx.model(batch["frames"], batch["input_ids"], batch["attention_mask"], batch["repeats"])
        n_opt = ctx.cfg.task.num_options
        if self.head == "retrieval":  # (B*opts, N, 2) -> P(match)
            z = aggregate_clip_scores(logits.float(), ctx.cfg.task.score_agg_func)
            return z.softmax(dim=-1)[:, 1].view(-1, n_opt)
        return aggregate_clip_scores(mc_option_logits(logits.float(), n_opt), ctx.cfg.task.score_agg_func)

    def evaluate(self, ctx: EvalContext, dataset: Any) -> dict[str, float]:
        records: list[dict[str, Any]] = []
        n_opt = ctx.cfg.task.num_options
        for batch in ctx.batches(dataset):
            if batch["frames"].shape[0] == 0:
                continue
            scores = self.option_scores(ctx, batch)
            preds = scores.argmax(dim=-1).cpu().tolist()
            if ctx.save_predictions and self.head != "retrieval":
                scores = scores.softmax(dim=-1)  # shown as in `clpbert predict`: a distribution over options
            metas = batch["meta"][::n_opt]
            for meta, pred, label, row in zip(metas, preds, batch["labels"].tolist(), scores.cpu().tolist(),
                                              strict=True):
                rec = {"uid": meta.get("question_id"), "pred": pred, "label": label,
                       "type": meta.get("answer_type")}
                if ctx.save_predictions:
                    rec.update(scores=row, video=meta.get("video_id"), question=meta.get("question"),
                               options=meta.get("options"))
                records.append(rec)
        records = metrics.dedup_records(ctx.gather(records))
        types = [r["type"] for r in records]
        out = metrics.qa_accuracy([r["pred"] for r in records], [r["label"] for r in records], types)
        out["acc"] = out["acc"] * len(records) / max(len(dataset), 1)
        out["n"] = float(len(records))
        if ctx.save_predictions and ctx.dist.is_main:
            ctx.keep_predictions(schema.MC, [self.prediction_row(r) for r in records], len(dataset))
        return out

    @staticmethod
    def prediction_row(r: dict[str, Any]) -> dict[str, Any]:
        """A gathered record as a predictions.schema row; rank breaks ties by option order, like argmax."""
        options, scores, label = r["options"] or [], r["scores"], r["label"]
        gt = scores[label]
        rank = sum(s > gt for s in scores) + sum(s == gt for s in scores[:label]) + 1
        return schema.record(example_id=r["uid"], video_key=r["video"], type=r["type"], text=r["question"],
                             answer=options[label] if label < len(options) else label,
                             pred=options[r["pred"]] if r["pred"] < len(options) else r["pred"],
                             correct=r["pred"] == label, score=scores[r["pred"]], rank=rank,
                             candidates=options, candidate_scores=scores)


TGIF_QA_ACTION = MCTask("tgif_qa_action", description="TGIF-QA repeating action, 5-way multiple choice")
TGIF_QA_TRANSITION = MCTask("tgif_qa_transition",
                            description="TGIF-QA state transition, 5-way multiple choice")
MSRVTT_MC = MCTask("msrvtt_mc", head="retrieval", trainable=False,
                   description="MSRVTT multiple choice, scored with a retrieval model (evaluation only)")
