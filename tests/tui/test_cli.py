"""`clpbert tui` at the CLI edge: import hygiene, help, and one-line errors for bad options."""

from __future__ import annotations

import subprocess
import sys
from unittest import mock

import pytest

from clpbert.errors import UserError


def test_cli_module_imports_no_textual_or_engine():
    code = ("import sys, cli.tui; bad = [m for m in ('textual', 'sqlalchemy', 'torch', 'rich', 'tui.app') "
            "if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_clpbert_tui_help_names_the_keys():
    out = subprocess.run([sys.executable, "-m", "cli.app", "tui", "--help"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "ctrl+q" in out.stdout and "--run" in out.stdout


def test_bad_theme_or_unknown_run_is_a_user_error_and_run_names_resolve(tui_home, ids):
    import cli.tui
    from tui.app import ClpbertApp

    started = {}

    def fake_run(app):
        started.update(theme=app.theme, run=app.start_run)

    with mock.patch.object(ClpbertApp, "run", fake_run):
        cli.tui.tui(run="demo-qa-live", refresh=1.0, theme="light")
        assert started == {"theme": "textual-light", "run": ids["running"]}
        with pytest.raises(UserError, match="unknown theme 'neon'"):
            cli.tui.tui(run=None, refresh=1.0, theme="neon")
        with pytest.raises(UserError, match="no run 'nope'"):
            cli.tui.tui(run="nope", refresh=1.0, theme="dark")
