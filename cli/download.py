"""`clpbert download`: pretrained weights, verified, resumable, registered as checkpoints.

Module top imports only typer (and the stdlib): the engine is imported inside the command.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.output import fmt_size

HELP = """Download pretrained weights (pretrained | bert-base-uncased | grid-feat-r50 | all).

Each artifact is fetched from its sources in order (original URL, then mirrors), resumed after an
interruption, verified (sha256 when known, then loaded safely and checked against the model),
installed under CLPBERT_HOME/pretrained/<artifact> and registered as a checkpoint.

The original ClipBERT host answers 409 since 2022: for `pretrained`, pass your own copy with
--from FILE. --from also takes a URL, a BERT folder or a .tar. $CLPBERT_HUB_MANIFEST (JSON/YAML)
replaces the built-in list of sources, e.g. with an internal mirror.
"""


ARTIFACT_HELP = "pretrained | bert-base-uncased | grid-feat-r50 | all"
DEST_HELP = ("Folder for the artifact (with `all`: one sub-folder each). "
             "Default: CLPBERT_HOME/pretrained/<artifact>.")
FROM_HELP = "Install from this URL, local file, folder or .tar instead of the manifest's sources."


def _describe(done: Any) -> str:
    state = "already present" if done.already_present else "installed"
    origin = f", from {done.source}" if done.source else ""
    lines = [f"{done.artifact}: {state} at {done.path}",
             f"  {fmt_size(done.size)}, sha256 {done.sha256[:16]}…{origin}",
             f"  contents: {done.structure.line()}"]
    if done.resumed_from:
        lines.append(f"  resumed from byte {done.resumed_from}")
    if done.inspect:
        c = done.inspect["counts"]
        lines.append(f"  model check ({done.inspect['task']} model, {done.inspect['format']} format): "
                     f"loads {c['loaded']} tensors, {c['missing']} model tensors not in file, "
                     f"{c['unused']} unused, {c['mis_shaped']} mis-shaped")
    if done.checkpoint:
        lines.append(f"  registered as checkpoint {done.checkpoint['name']!r} (id {done.checkpoint['id']})")
    lines += [f"  note: {n}" for n in done.notes]
    return "\n".join(lines)


def _json_record(done: Any) -> dict[str, Any]:
    record = dict(done.checkpoint or {"name": done.artifact, "path": str(done.path), "kind": done.kind,
                                      "sha256": done.sha256, "size": done.size, "source": done.source})
    record.update(artifact=done.artifact, already_present=done.already_present,
                  resumed_from=done.resumed_from, contents=done.structure.line(), inspect=done.inspect)
    return record


def download(
    what: Annotated[str, typer.Argument(help=ARTIFACT_HELP, metavar="ARTIFACT")],
    dest: Annotated[Path | None, typer.Option("--dest", help=DEST_HELP)] = None,
    from_: Annotated[str | None, typer.Option("--from", help=FROM_HELP)] = None,
    force: Annotated[bool, typer.Option("--force", help="Fetch again even if present (drops partial "
                                        "downloads).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the registered checkpoint(s) as JSON.")]
    = False,
) -> None:
    from cli.progress import make_progress
    from clpbert.app.weights import DownloadError, install, load_manifest, select
    from clpbert.errors import UserError

    artifacts = select(load_manifest(), what)
    if from_ and len(artifacts) > 1:
        raise UserError("--from installs one artifact; name it, e.g. "
                        "`clpbert download pretrained --from FILE`")
    progress = make_progress(not as_json)
    interactive = not as_json and sys.stderr.isatty()

    def note(msg: str) -> None:
        print(msg, file=sys.stderr)

    done, failed = [], []
    for art in artifacts:
        target = (dest / art.name if len(artifacts) > 1 else dest) if dest else None
        try:
            done.append(install(art, dest=target, from_=from_, force=force, progress=progress, note=note,
                                quiet_hub=not interactive))
        except DownloadError as e:
            if len(artifacts) == 1:
                raise
            failed.append((art.name, e))
        if not as_json and done and done[-1].artifact == art.name:
            typer.echo(_describe(done[-1]))
    if as_json:
        from cli.output import print_json

        print_json([_json_record(d) for d in done])
    if failed:
        if all(e.offline for _, e in failed) and not done:
            names = ", ".join(n for n, _ in failed)
            why = "; ".join(sorted({r.split(": ", 1)[-1] for _, e in failed for r in e.reasons.split("; ")}))
            raise UserError(f"no network: no source is reachable for {names} ({why}); copy the files from a "
                            "machine that has them and run `clpbert download ARTIFACT --from PATH`")
        for _, e in failed:
            print(f"error: {e}", file=sys.stderr)
        raise UserError(f"{len(failed)} of {len(artifacts)} artifacts could not be installed: "
                        f"{', '.join(n for n, _ in failed)} (reasons above)")


def register(app: typer.Typer) -> None:
    """Add the command to the main app (called by cli/app.py)."""
    app.command("download", help=HELP, no_args_is_help=True)(download)
