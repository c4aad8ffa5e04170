"""`clpbert datasets prepare` and `clpbert datasets verify`, added to the datasets group by `register`.

Kept apart from cli/datasets.py (list/show/rm) so the two can change independently. Only typer and
the standard library are imported at module top; the engine is imported inside the commands.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from cli.common import JsonFlag, open_registry

PREPARE_HELP = (
    "Convert an official dataset release into txt_db + vis_db and register it.\n\n"
    "FORMAT is one of: tgif_qa, msrvtt_qa, msrvtt_ret, didemo, anet_captions, coco_captions, vg_regions. "
    "--annotations takes the file or folder as the dataset ships it.\n\n"
    "Without --videos only the txt_db is written; re-run with --videos later to add them. Videos without "
    "a file are counted and listed, not fatal, unless --strict (exit 2, nothing registered). Re-running "
    "resumes packing where it stopped.\n\n"
    "A release without a validation split gets one disjoint from train and test, so model selection never "
    "sees the test split (TGIF-QA, ActivityNet Captions: 10% of the train videos; MSRVTT retrieval: 1,000 "
    "videos of the 9k list outside the 7k list); a note says what was done.\n\n"
    "Format options (--opt): msrvtt_qa num_answers=1500; msrvtt_ret train_videos=7k|9k; "
    "coco_captions key=id12|file_name (file_name for the 2014 files); vg_regions split=train."
)

ANN_HELP = "Annotation file or folder, as the dataset ships it."
NAME_HELP = "Dataset name to register (TGIF-QA registers NAME-action, NAME-transition, NAME-frameqa)."
VIDEOS_HELP = "Folder (searched recursively) or tar archive of the videos/images."
FPS_HELP = "Store JPEG frames sampled at this rate instead of the video files."
SIDE_HELP = "Frame store / --reencode: long side at most this many pixels (default: the task's image size)."
REENCODE_HELP = ("Re-encode videos as H.264 made for fast sparse loading (long side <= --max-side, 16-frame "
                 "GOPs, fast-decode settings; lossy, keeps every frame and its time). GIFs stay as they are.")
STRICT_HELP = "Missing or undecodable videos are an error (exit 2, nothing registered)."
DECODE_HELP = "Also decode frames of every referenced video (slower, catches corrupt files)."
OPT_HELP = "Format option KEY=VALUE, repeatable (e.g. coco_captions: --opt key=file_name)."


def _parse_opts(items: list[str]) -> dict[str, str]:
    from clpbert.errors import UserError

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--opt expects KEY=VALUE, got {item!r} (e.g. --opt key=file_name)")
        out[key.strip()] = value.strip()
    return out


def _progress_bar():
    """A rich progress callback on stderr, and the Progress to stop; (None, None) when not a terminal."""
    if not sys.stderr.isatty():
        return None, None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn("packing videos"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                   console=Console(stderr=True), transient=True)
    task = bar.add_task("pack", total=None)
    bar.start()

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    return update, bar


def prepare_cmd(
    format: Annotated[str, typer.Argument(help="Annotation format (see above).", show_default=False)],
    annotations: Annotated[Path, typer.Option("--annotations", "-a", help=ANN_HELP)],
    name: Annotated[str, typer.Option("--name", "-n", help=NAME_HELP)],
    videos: Annotated[Path | None, typer.Option("--videos", help=VIDEOS_HELP)] = None,
    frames_fps: Annotated[float | None, typer.Option("--frames-fps", help=FPS_HELP)] = None,
    max_side: Annotated[int | None, typer.Option("--max-side", help=SIDE_HELP)] = None,
    strict: Annotated[bool, typer.Option("--strict", help=STRICT_HELP)] = False,
    reencode: Annotated[bool, typer.Option("--reencode", help=REENCODE_HELP)] = False,
    opt: Annotated[list[str] | None, typer.Option("--opt", help=OPT_HELP)] = None,
    json_: JsonFlag = False,
) -> None:
    from cli.output import diag, print_json
    from clpbert.app.datasets import prepare

    update, bar = _progress_bar() if videos is not None else (None, None)
    try:
        report = prepare(format, annotations, name, videos=videos, frames_fps=frames_fps, max_side=max_side,
                         strict=strict, options=_parse_opts(opt or []), progress=update, reencode=reencode)
    finally:
        if bar is not None:
            bar.stop()
    if json_:
        print_json(report.to_dict())
    else:
        for ds in report.datasets:
            splits = ", ".join(f"{s} {n:,}" for s, n in ds.splits.items())
            videos_txt = ("videos not packed" if ds.missing_videos is None
                          else f"{ds.videos - ds.missing_videos:,}/{ds.videos:,} videos in vis_db")
            typer.echo(f"registered {ds.name} ({ds.task}): {splits}; {videos_txt}")
    if report.missing_videos:
        failed = report.undecodable
        examples = ", ".join(report.missing_examples[:3])
        nofile = report.missing_videos - failed
        diag(f"warning: {report.missing_videos:,} videos missing or undecodable: {nofile:,} without a file, "
             f"{failed:,} undecodable (e.g. {examples}); they are skipped in training "
             "(--strict makes this an error)")
        for key, why in report.failed_examples[:3]:
            diag(f"  undecodable {key}: {why}")
    for note in report.notes:
        diag(f"note: {note}")


def verify_cmd(
    name: Annotated[str, typer.Argument(help="A registered dataset.")],
    decode: Annotated[bool, typer.Option("--decode/--no-decode", help=DECODE_HELP)] = True,
    json_: JsonFlag = False,
) -> None:
    """Check every txt_db video id exists in the vis_db and decodes (exit 1 if not)."""
    from dataclasses import asdict

    from cli.output import print_json
    from clpbert.app.datasets import verify_registered

    with open_registry() as reg:
        ds = reg.get_dataset(name)
    check = verify_registered(ds, decode=decode)
    report = check.report
    if json_:
        print_json({"name": ds.name, "ok": check.ok, **asdict(report),
                    "split_problems": check.split_problems})
    else:
        typer.echo(f"{ds.name}: {report.summary()}")
        for problem in check.split_problems:
            typer.echo(f"  changed since registration: {problem}")
        for key in report.missing[:10]:
            typer.echo(f"  missing: {key}")
        for key, why in report.undecodable[:10]:
            typer.echo(f"  undecodable: {key}: {why}")
    if not check.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add `prepare` and `verify` to the `datasets` command group."""
    app.command("prepare", help=PREPARE_HELP)(prepare_cmd)
    app.command("verify")(verify_cmd)
