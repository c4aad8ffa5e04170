"""The README's generated sections: the command reference, built from the CLI itself (so it cannot
document a flag that does not exist), and the task presets table, built from clpbert/config.py.

    python -m cli.reference                   # print the sections
    python -m cli.reference --write README.md # replace each section between its markers in place
    python -m cli.reference --check README.md # exit 1 if a section of the README is stale

The command reference walks the click command tree of the Typer app
(`typer.main.get_command(cli.app.app)`) in registration order and writes, per command, a heading
and exactly what `clpbert ... --help` prints, at a fixed width so the output does not depend on the
terminal it is generated in. Markers: `<!-- BEGIN COMMAND REFERENCE -->` ... `<!-- END ... -->`,
and `<!-- BEGIN PRESETS -->` ... `<!-- END PRESETS -->`. `--write` also refreshes the README's TUI
screenshots in docs/ from the TUI's SVG snapshot tests (DOC_IMAGES).
"""

import argparse
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

BEGIN = "<!-- BEGIN COMMAND REFERENCE -->"
END = "<!-- END COMMAND REFERENCE -->"
PRESETS_BEGIN = "<!-- BEGIN PRESETS -->"
PRESETS_END = "<!-- END PRESETS -->"
REGENERATE = "python -m cli.reference --write README.md"
SNAPSHOTS = "tests/tui/__snapshots__/test_snapshots"
DOC_IMAGES = {
    "docs/tui-runs.svg": f"{SNAPSHOTS}/test_runs_screen.svg",
    "docs/tui-run-detail.svg": f"{SNAPSHOTS}/test_run_detail_curves_of_a_live_run.svg",
    "docs/tui-resources.svg": f"{SNAPSHOTS}/test_run_detail_resources_of_a_loader_bound_cpu_run.svg",
}
"""README images (relative to the README's folder) copied from the TUI snapshot tests' SVGs."""
WIDTH = 100


def _walk(command: Any, ctx: Any) -> Iterator[tuple[str, Any, Any]]:
    """(full command path, command, its context) for the command and every sub-command, depth first."""
    yield ctx.command_path, command, ctx
    if hasattr(command, "list_commands"):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is None or getattr(sub, "hidden", False):
                continue
            sub_ctx = sub.context_class(sub, info_name=name, parent=ctx, terminal_width=WIDTH,
                                        max_content_width=WIDTH)
            yield from _walk(sub, sub_ctx)


def _anchor(path: str) -> str:
    """GitHub's heading anchor for a heading "`clpbert runs list`"."""
    return path.lower().replace(" ", "-")


def render() -> str:
    """The command reference (between BEGIN and END, markers excluded), ending with a newline."""
    import typer

    import cli.app

    root = typer.main.get_command(cli.app.app)
    ctx = root.context_class(root, info_name="clpbert", terminal_width=WIDTH, max_content_width=WIDTH)
    entries = list(_walk(root, ctx))
    out = [f"<!-- Generated from the CLI by `{REGENERATE}`; do not edit by hand. -->", ""]
    out.append(" · ".join(f"[`{path}`](#{_anchor(path)})" for path, _, _ in entries))
    for path, command, cmd_ctx in entries:
        help_text = command.get_help(cmd_ctx).rstrip()
        help_text = "\n".join(line.rstrip() for line in help_text.splitlines())
        out += ["", f"#### `{path}`", "", "```text", help_text, "```"]
    return "\n".join(out) + "\n"


def render_presets() -> str:
    """The task presets as a Markdown table (between PRESETS_BEGIN and PRESETS_END)."""
    from clpbert.app.runs import describe_init as describe
    from clpbert.config import PRESETS, preset

    out = [f"<!-- Generated from clpbert/config.py by `{REGENERATE}`; do not edit by hand. -->", "",
           "| task | kind | head | clips x frames @ fps (train) | image side L | text tokens | "
           "batch x accum | global batch | epochs | lr | clip scores | best-checkpoint metric (split) | "
           "test split | init |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name in PRESETS:
        c = preset(name)
        d = c.data
        out.append(f"| `{name}` | {c.kind} | {c.task.head} | {d.train_n_clips} x {d.num_frm} @ {d.fps:g} | "
                   f"{d.max_img_size} | {d.max_txt_len} | {d.batch_size} x {c.optim.grad_accum} | "
                   f"{c.optim.global_batch or '-'} | {c.optim.epochs:g} | {c.optim.lr:g} | "
                   f"{c.task.score_agg_func} | {c.eval.metric or '-'} ({d.val_split}) | "
                   f"{d.test_split or '-'} | {describe(c)} |")
    return "\n".join(out) + "\n"


def sections() -> list[tuple[str, str, str]]:
    """(begin marker, end marker, generated text) of every generated section."""
    return [(BEGIN, END, render()), (PRESETS_BEGIN, PRESETS_END, render_presets())]


def _span(document: str, begin: str, end: str) -> tuple[int, int]:
    start, stop = document.find(begin), document.find(end)
    if start < 0 or stop < start:
        raise ValueError(f"the markers {begin} ... {end} are missing or out of order")
    return start + len(begin), stop


def replace_section(document: str, section: str, begin: str = BEGIN, end: str = END) -> str:
    """The document with the text between the markers replaced by `section`."""
    start, stop = _span(document, begin, end)
    return f"{document[:start]}\n{section}{document[stop:]}"


def current_section(document: str, begin: str = BEGIN, end: str = END) -> str:
    """The text now between the markers (what `replace_section` would overwrite)."""
    start, stop = _span(document, begin, end)
    return document[start + 1 : stop]


def stale_images(root: Path) -> list[tuple[Path, Path]]:
    """(docs copy, snapshot) pairs whose copy is missing or differs; snapshots not there are skipped."""
    pairs = [(root / doc, root / snap) for doc, snap in DOC_IMAGES.items()]
    return [(doc, snap) for doc, snap in pairs
            if snap.is_file() and (not doc.is_file() or doc.read_bytes() != snap.read_bytes())]


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cli.reference", description=__doc__.splitlines()[0])
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--write", metavar="FILE", type=Path, help="replace the section in FILE")
    group.add_argument("--check", metavar="FILE", type=Path, help="exit 1 if FILE's section is stale")
    args = ap.parse_args(argv)
    generated = sections()
    target = args.write or args.check
    if target is None:
        sys.stdout.write("\n".join(text for _, _, text in generated))
        return 0
    document = target.read_text(encoding="utf-8")
    try:
        updated = document
        for begin, end, text in generated:
            updated = replace_section(updated, text, begin, end)
    except ValueError as e:
        sys.stderr.write(f"{target}: {e}\n")
        return 2
    images = stale_images(target.resolve().parent)
    if args.check:
        if updated != document or images:
            sys.stderr.write(f"{target}: the generated sections (command reference, presets) or the TUI "
                             f"screenshots in docs/ are stale; run `{REGENERATE}`\n")
            return 1
        return 0
    for doc, snap in images:
        doc.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(doc, snap.read_text(encoding="utf-8"))
        sys.stderr.write(f"{doc}: copied from {snap}\n")
    if updated != document:
        _write_atomic(target, updated)
        sys.stderr.write(f"{target}: generated sections updated\n")
    else:
        sys.stderr.write(f"{target}: generated sections already up to date\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
