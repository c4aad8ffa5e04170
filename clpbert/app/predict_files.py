"""`clpbert predict` as one call: resolve the checkpoint and device, check the task's inputs, run the
task's predict mode (QA, multiple choice, retrieval, image-text matching) on the user's files, and
return the answers as data (per-mode fields plus `records` in the saved-predictions columns) with
what the model was and how much work was cached."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from clpbert.errors import UserError


@dataclass
class PredictRequest:
    ckpt: str
    """A weights file, a registered checkpoint name or a run id."""
    inputs: list[str]
    """Video and image files or directories."""
    task: str | None = None
    """What to predict; None: the checkpoint's task."""
    questions: list[str] = field(default_factory=list)
    options: str | None = None
    """Multiple choice: `A|B|C`."""
    queries: list[str] = field(default_factory=list)
    """Retrieval: texts that rank the inputs."""
    captions: list[str] = field(default_factory=list)
    """Retrieval: captions ranked per input; image-text: captions scored against every input."""
    top_k: int = 5
    gpus: str | None = None
    tokenizer: str | None = None
    batch_size: int | None = None
    cache: bool = True


@dataclass
class PredictOutcome:
    mode: str
    """qa | mc | retrieval | itm (the task's predict mode)."""
    info: dict[str, Any]
    """The model (checkpoint, task, where its config came from) and `stats` (videos, CNN passes,
    cache hits)."""
    data: dict[str, Any]
    """The mode's fields and `records`."""
    errors: list[Any]
    """Inputs skipped (path, error)."""

    def check_usable(self) -> None:
        """UserError when every input was skipped (after the skips were shown)."""
        usable = len(self.data.get("predictions") or self.data.get("videos") or [])
        if not usable and self.errors:
            raise UserError(f"none of the inputs could be used ({len(self.errors)} skipped, see above)")


def predict_files(req: PredictRequest, on_note: Callable[[str], None] = lambda _: None) -> PredictOutcome:
    """Run `req` (see the module docstring); `on_note` gets what resolving the checkpoint noticed, as
    soon as it is known. Bad input raises UserError before any model runs."""
    from clpbert.predict import (
        Predictor,
        describe,
        mode_of,
        records,
        resolve_device,
        resolve_source,
        split_options,
    )

    if not req.inputs:
        raise UserError("no inputs: pass --video FILE|DIR and/or --image FILE")
    device = resolve_device(req.gpus)
    source = resolve_source(req.ckpt, task=req.task, tokenizer=req.tokenizer)
    task = req.task or source.cfg.task.name
    mode_of(task)
    for note in source.notes:
        on_note(note)
    predictor = Predictor(source, device=device, cache=req.cache, batch_size=req.batch_size)
    mode = predictor.check_task(task)
    info = describe(source)
    info["task"] = task

    if mode == "qa":
        result = predictor.qa(req.inputs, req.questions, top_k=req.top_k)
        data = {**result.to_dict(), "records": records.qa_records(result)}
    elif mode == "mc":
        if not req.options:
            raise UserError(f'--task {task} needs --options "A|B|C..."')
        result = predictor.multiple_choice(req.inputs, split_options(req.options), " ".join(req.questions))
        data = {**result.to_dict(), "records": records.mc_records(result)}
    elif mode == "retrieval":
        if not (req.queries or req.captions):
            raise UserError("retrieval needs --query TEXT (rank the videos) or --caption TEXT "
                            "(rank captions)")
        result = predictor.retrieval(req.inputs, req.queries + req.captions)
        data = {**retrieval_dict(result, len(req.queries), req.top_k),
                "records": records.retrieval_records(result, len(req.queries), req.top_k)}
    else:
        result = predictor.itm(req.inputs, req.captions)
        data = {**result.to_dict(), "records": records.itm_records(result)}

    stats = predictor.stats
    cache = predictor.cache.stats if predictor.cache is not None else None
    hits = cache.hits if cache else 0
    info["stats"] = {"videos": stats.cnn_videos + hits, "cnn_videos": stats.cnn_videos, "cache_hits": hits,
                     "pairs": stats.pairs}
    return PredictOutcome(mode, info, data, list(result.errors))


def retrieval_dict(result: Any, n_queries: int, top_k: int) -> dict[str, Any]:
    """Queries rank the videos; captions are ranked per video. Full matrix included for scripts."""
    rankings = []
    for i, text in enumerate(result.texts[:n_queries]):
        rankings.append({"query": text, "ranking": [{"path": p, "score": s}
                                                    for p, s in result.rank_videos(i)]})
    per_video = []
    if n_queries < len(result.texts):
        for j, path in enumerate(result.paths):
            col = result.scores[n_queries:, j]  # the captions only, even when one repeats a query
            order = col.argsort(descending=True, stable=True).tolist()
            per_video.append({"path": path, "captions": [{"caption": result.texts[n_queries + i],
                                                          "score": float(col[i])} for i in order]})
    return {"rankings": rankings, "videos": per_video or [{"path": p} for p in result.paths],
            "texts": result.texts, "paths": result.paths, "scores": result.scores.tolist(),
            "errors": [asdict(e) for e in result.errors], "top_k": top_k}
