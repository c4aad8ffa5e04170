"""`clpbert predict`: task predictions on your own videos, images and text.

Module top imports only typer and the standard library; the engine (clpbert.app.predict_files, which
runs clpbert.predict) is imported inside the command.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

HELP = """Predict with a trained checkpoint on your own files.

--ckpt takes a weights file, a registered checkpoint name, or a run id (its best checkpoint, else
the latest). The run's saved config decides frame size, frames, clips and clip aggregation, so
predictions match how the model was evaluated. --task picks what to predict (default: the
checkpoint's task):

  QA (msrvtt_qa, tgif_qa_frameqa, demo):  --question TEXT  -> top-k answers per video
  multiple choice (tgif_qa_action, tgif_qa_transition, msrvtt_mc):  --options "A|B|C" [--question]
  retrieval (msrvtt_ret, didemo_ret, anet_ret):  --query TEXT ranks the videos;
      --caption TEXT (repeatable) ranks the captions for each video
  image-text (pretrain):  --caption TEXT -> ITM score per (image/video, caption)

--json prints, besides the per-mode fields, "records": one row per prediction in the same columns
as an evaluation's saved predictions (`clpbert runs predictions`), without the ground truth.

CNN features are cached on disk by file content (CLPBERT_HOME/cache/features), so asking another
question about the same folder only runs the transformer. Unreadable files are reported on stderr
(one line each) and skipped.
"""


def predict(
    ckpt: Annotated[str, typer.Option("--ckpt", help="Weights file, registered checkpoint, or run id.")],
    task: Annotated[str | None, typer.Option("--task", help="What to predict (default: the checkpoint's "
                                             "task).")] = None,
    video: Annotated[list[str] | None, typer.Option("--video", help="Video file or directory (repeatable; "
                                                    "mp4, webm, gif, ...).")] = None,
    image: Annotated[list[str] | None, typer.Option("--image", help="Image file or directory (repeatable; "
                                                    "jpg, png).")] = None,
    question: Annotated[list[str] | None, typer.Option("--question", help="A question (repeatable).")] = None,
    options: Annotated[str | None, typer.Option("--options", help='Multiple-choice options, "A|B|C".')] \
            = None,
    query: Annotated[list[str] | None, typer.Option("--query", help="Retrieval: rank the inputs for this "
                                                    "text (repeatable).")] = None,
    caption: Annotated[list[str] | None, typer.Option("--caption", help="A caption to score against every "
                                                      "input (repeatable).")] = None,
    top_k: Annotated[int, typer.Option("--top-k", min=1, help="Answers (QA) / results (retrieval) shown.")]
    = 5,
    gpus: Annotated[str | None, typer.Option("--gpus", help="GPU index (0 -> cuda:0, bf16); default: CPU.")]
    = None,
    tokenizer: Annotated[str | None, typer.Option("--tokenizer", help="Tokenizer directory (default: the "
                                                  "run's dataset's).")] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", min=1, help="Videos per CNN batch.")]
    = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not read or write cached features.")]
    = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout (data only).")] = False,
) -> None:
    # decord prints its own C++ error lines for corrupt files; the PyAV readers give the same frames
    os.environ.setdefault("CLPBERT_VIDEO_BACKENDS", "sparse,pyav")
    from cli.output import diag, print_json
    from clpbert.app.predict_files import PredictRequest, predict_files

    request = PredictRequest(ckpt, [*(video or []), *(image or [])], task=task,
                             questions=list(question or []), options=options, queries=list(query or []),
                             captions=list(caption or []),
                             top_k=top_k, gpus=gpus, tokenizer=tokenizer, batch_size=batch_size,
                             cache=not no_cache)
    outcome = predict_files(request, on_note=lambda note: diag(f"clpbert: note: {note}"))
    for err in outcome.errors:
        diag(f"clpbert: skipped {err.path}: {err.error}")
    if as_json:
        print_json({**outcome.info, **outcome.data})
    else:
        _print_tables(outcome.mode, outcome.data, outcome.info)
    outcome.check_usable()


def _print_tables(mode: str, data: dict, info: dict) -> None:
    from cli.output import diag, print_table

    diag(f"model: {info['checkpoint']} ({info['task']}, config from {info['config_from']}); "
         f"{info['stats']['cnn_videos']} videos through the CNN, {info['stats']['cache_hits']} from cache")
    if mode == "qa":
        rows = []
        for p in data["predictions"]:
            answers = ", ".join(f"{a['answer']} {a['prob']:.1%}" for a in p["answers"])
            rows.append((p["path"], p["question"], answers))
        print_table(["INPUT", "QUESTION", "ANSWERS (top-k)"], rows, empty="no predictions")
    elif mode == "mc":
        rows = [(p["path"], p["options"][p["choice"]],
                 ", ".join(f"{o} {s:.3f}" for o, s in zip(p["options"], p["scores"], strict=True)))
                for p in data["predictions"]]
        print_table(["INPUT", "CHOICE", "SCORES"], rows, empty="no predictions")
    elif mode == "retrieval":
        k = data["top_k"]
        for r in data["rankings"]:
            print_table(["RANK", "INPUT", "SCORE"],
                        [(i + 1, x["path"], f"{x['score']:.4f}") for i, x in enumerate(r["ranking"][:k])],
                        title=f"query: {r['query']}", empty="no inputs")
        for v in data["videos"]:
            if "captions" in v:
                print_table(["RANK", "CAPTION", "SCORE"],
                            [(i + 1, x["caption"], f"{x['score']:.4f}")
                             for i, x in enumerate(v["captions"][:k])],
                            title=f"input: {v['path']}")
    else:
        rows = [(p["path"], p["caption"], f"{p['score']:.4f}") for p in data["predictions"]]
        print_table(["INPUT", "CAPTION", "ITM SCORE"], rows, empty="no predictions")
    sys.stdout.flush()


def register(app: typer.Typer) -> None:
    """Add the command to the main app (called by cli/app.py)."""
    app.command("predict", help=HELP)(predict)
