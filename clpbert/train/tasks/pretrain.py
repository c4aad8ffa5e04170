"""Image-text pretraining: masked language modelling + image-text matching (spec §4.3).

loss = MLM cross-entropy summed over masked text positions / *all* B'×Lt positions (the
original's mean includes the ignored ones) + ITM cross-entropy averaged over the captions.
COCO and VG sources are mixed by the trainer's source sampler (50/50 per optimiser step, the
same choice on every rank, held for the gradient-accumulation cycle). Validation reports
per-token MLM accuracy and ITM accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from clpbert.config import RunConfig
from clpbert.predictions import schema
from clpbert.train.tasks.base import EvalContext, LossOutput, Task


@dataclass
class PretrainTask(Task):
    head: str = "pretrain"
    default_metric: str = "itm_acc"
    eval_columns: tuple[str, ...] = ("itm_acc", "mlm_acc", "loss")

    @staticmethod
    def losses(out: Any, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        mlm_logits = out.mlm_logits.float()  # (B', Lt, V)
        mlm = F.cross_entropy(mlm_logits.flatten(0, 1), batch["mlm_labels"].flatten(), ignore_index=-100,
                              reduction="sum") / max(batch["mlm_labels"].numel(), 1)
        itm = F.cross_entropy(out.itm_logits.float(), batch["itm_labels"])
        return mlm, itm

    def loss(self, model, batch: dict[str, Any], cfg: RunConfig) -> LossOutput:
        out = model(batch["frames"], batch["input_ids"], batch["attention_mask"], batch["repeats"])
        mlm, itm = self.losses(out, batch)
        return LossOutput(mlm + itm, {"mlm": float(mlm.detach()), "itm": float(itm.detach())})

    def evaluate(self, ctx: EvalContext, dataset: Any) -> dict[str, float]:
        totals = dict.fromkeys(("mlm_correct", "mlm_n", "itm_correct", "itm_n", "loss", "batches"), 0.0)
        rows: list[dict[str, Any]] = []
        with torch.no_grad():
            for batch in ctx.batches(dataset):
                if batch["frames"].shape[0] == 0:
                    continue
                with ctx.autocast():
                    out = ctx.model(batch["frames"], batch["input_ids"], batch["attention_mask"],
                                    batch["repeats"])
                mlm, itm = self.losses(out, batch)
                masked = batch["mlm_labels"] != -100
                pred = out.mlm_logits.argmax(dim=-1)
                totals["mlm_correct"] += float((pred[masked] == batch["mlm_labels"][masked]).sum())
                totals["mlm_n"] += float(masked.sum())
                totals["itm_correct"] += float((out.itm_logits.argmax(-1) == batch["itm_labels"]).sum())
                totals["itm_n"] += float(batch["itm_labels"].numel())
                totals["loss"] += float(mlm + itm)
                totals["batches"] += 1
                if ctx.save_predictions:
                    rows.extend(self._prediction_rows(out, batch, dataset, f"{ctx.dist.rank}:{len(rows)}"))
        parts = ctx.gather([totals])
        if ctx.save_predictions:
            kept = ctx.gather(rows)  # a collective: every rank takes part, rank 0 keeps the rows
            if ctx.dist.is_main:
                ctx.keep_predictions(schema.PRETRAIN, kept, sum(r["type"] == "itm" for r in kept))
        s = {k: sum(p[k] for p in parts) for k in totals}
        return {"mlm_acc": s["mlm_correct"] / max(s["mlm_n"], 1),
                "itm_acc": s["itm_correct"] / max(s["itm_n"], 1),
                "loss": s["loss"] / max(s["batches"], 1), "n": s["itm_n"]}

    @staticmethod
    def _prediction_rows(out: Any, batch: dict[str, Any], dataset: Any, prefix: str) -> list[dict[str, Any]]:
        """An itm row per caption and an mlm row per masked token (ids unique per rank and batch)."""
        itm_p = out.itm_logits.float().softmax(-1).cpu()
        itm_labels = batch["itm_labels"].cpu().tolist()
        names = ("mismatch", "match")
        rows = []
        for i, (meta, label) in enumerate(zip(batch["meta"], itm_labels, strict=True)):
            pred = int(itm_p[i].argmax())
            rows.append(schema.record(example_id=f"{prefix}:{i}", video_key=meta.get("image_id"), type="itm",
                                      answer=names[label], pred=names[pred], correct=pred == label,
                                      score=float(itm_p[i, pred])))
        labels = batch["mlm_labels"].cpu()
        masked = (labels != -100).nonzero().tolist()
        if masked:
            probs = out.mlm_logits.float().softmax(-1)
            p, pred = probs.max(-1)
            pred, p = pred.cpu(), p.cpu()
            tok = getattr(dataset, "tokenizer", None)
            ids = [int(labels[i, j]) for i, j in masked] + [int(pred[i, j]) for i, j in masked]
            words = tok.convert_ids_to_tokens(ids) if tok is not None else [str(x) for x in ids]
            n = len(masked)
            for k, (i, j) in enumerate(masked):
                rows.append(schema.record(example_id=f"{prefix}:{i}:{j}", type="mlm", answer=words[k],
                                          video_key=batch["meta"][i].get("image_id"), pred=words[n + k],
                                          correct=ids[k] == ids[n + k], score=float(p[i, j])))
        return rows

    def videos_in(self, batch: dict[str, Any]) -> int:
        return int(batch["frames"].shape[0])


PRETRAIN = PretrainTask("pretrain", description="image-text pretraining on COCO + VG (MLM + ITM)")
