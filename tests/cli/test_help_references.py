"""Every `clpbert ...` command a help text points at exists (issue 17: `run --task` pointed at a
`clpbert config tasks` that was never there)."""

from __future__ import annotations

import re

import click
import typer

MENTION = re.compile(r"`clpbert((?: [a-z][a-z-]*)+)")


def _sub(cmd: click.Command, name: str) -> click.Command | None:
    return cmd.get_command(click.Context(cmd), name) if hasattr(cmd, "get_command") else None


def _commands(cmd: click.Command, path: tuple[str, ...] = ()):
    yield path, cmd
    if hasattr(cmd, "list_commands"):
        for name in cmd.list_commands(click.Context(cmd)):
            yield from _commands(_sub(cmd, name), (*path, name))


def _texts(cmd: click.Command) -> list[str]:
    texts = [cmd.help or ""]
    texts += [getattr(p, "help", None) or "" for p in cmd.params]
    return texts


def _resolves(root: click.Command, words: list[str]) -> bool:
    node: click.Command | None = root
    for w in words:
        if not hasattr(node, "list_commands"):
            return True  # the rest are arguments of a leaf command
        node = _sub(node, w)
        if node is None:
            return False
    return True


def test_every_command_named_in_a_help_text_exists():
    import cli.app

    root = typer.main.get_command(cli.app.app)
    bad = []
    seen = 0
    for path, cmd in _commands(root):
        for text in _texts(cmd):
            for m in MENTION.finditer(text):
                words = m.group(1).split()
                seen += 1
                if not _resolves(root, words):
                    bad.append(f"`clpbert {' '.join(path)}` help names `clpbert {' '.join(words)}`")
    assert seen > 5 and not bad, bad
