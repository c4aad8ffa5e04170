"""The `clpbert` executable end to end (real subprocesses): help, version, errors, import hygiene."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def clpbert(*args: str, home: Path | None = None, env: dict[str, str] | None = None,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python -m cli.app ARGS` (the same entry as the console script) in a private home."""
    full_env = {**os.environ, **(env or {})}
    if home is not None:
        full_env["CLPBERT_HOME"] = str(home)
        full_env.pop("CLPBERT_DB_URL", None)
    return subprocess.run([sys.executable, "-m", "cli.app", *args], capture_output=True, text=True,
                          env=full_env, cwd=REPO, input=input, timeout=120)


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("clpbert: error: ")
    assert "Traceback" not in proc.stderr
    for f in fragments:
        assert f in lines[0]


def test_help_lists_command_groups(clpbert_home: Path):
    proc = clpbert("--help", home=clpbert_home)
    assert proc.returncode == 0
    for group in ("doctor", "locate", "datasets", "ckpts", "runs", "config"):
        assert re.search(rf"^\s+{group}\s", proc.stdout, re.M), group
    assert "--db" in proc.stdout and "--home" in proc.stdout


def test_console_script_version():
    exe = Path(sys.executable).with_name("clpbert")
    if not exe.exists():
        pytest.skip(f"console script not installed next to {sys.executable}")
    proc = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=60)
    from clpbert import __version__

    assert proc.returncode == 0 and proc.stdout.strip() == f"clpbert {__version__}"


def test_runs_list_json_on_empty_home_is_empty_list(clpbert_home: Path):
    proc = clpbert("runs", "list", "--json", home=clpbert_home)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []
    for listing in (["datasets", "list", "--json"], ["ckpts", "list", "--json"]):
        out = clpbert(*listing, home=clpbert_home)
        assert out.returncode == 0 and json.loads(out.stdout) == [], out.stderr


def test_unknown_run_id_is_one_line_exit_2(clpbert_home: Path):
    assert_one_line_error(clpbert("runs", "show", "deadbeef", home=clpbert_home),
                          "no run 'deadbeef'", "clpbert runs list")


def test_usage_errors_exit_2(clpbert_home: Path):
    assert clpbert("runs", "list", "--limit", "zero", home=clpbert_home).returncode == 2
    assert clpbert("no-such-command", home=clpbert_home).returncode == 2


def test_bad_state_filter_is_user_error(clpbert_home: Path):
    assert_one_line_error(clpbert("runs", "list", "--state", "sleeping", home=clpbert_home),
                          "unknown run state")


def test_corrupt_registry_is_one_line_exit_2(clpbert_home: Path):
    (clpbert_home / "registry.db").write_bytes(b"garbage" * 1000)
    assert_one_line_error(clpbert("runs", "list", home=clpbert_home), "cannot open registry")


def test_newer_registry_schema_is_refused(clpbert_home: Path):
    from sqlalchemy import text

    from clpbert.registry import open_registry

    with open_registry() as reg, reg._engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0999'"))
    assert_one_line_error(clpbert("runs", "list", home=clpbert_home), "newer clpbert", "schema 0999")


def test_db_and_home_options_override_environment(tmp_path: Path):
    other = tmp_path / "elsewhere"
    proc = clpbert("--home", str(other), "locate", "runs", env={"CLPBERT_HOME": str(tmp_path / "no")})
    assert proc.stdout.strip() == str(other / "runs")
    url = f"sqlite:///{tmp_path / 'x.db'}"
    proc = clpbert("--db", url, "locate", "db", home=tmp_path)
    assert proc.stdout.strip() == url


def test_locate_lists_every_location(clpbert_home: Path):
    proc = clpbert("locate", home=clpbert_home)
    pairs = dict(line.split("\t") for line in proc.stdout.strip().splitlines())
    assert set(pairs) == {"home", "db", "runs", "cache", "pretrained", "datasets"}
    assert pairs["home"] == str(clpbert_home)
    assert_one_line_error(clpbert("locate", "nowhere", home=clpbert_home), "unknown location")


def test_import_hygiene_no_heavy_modules_for_help():
    code = (
        "import sys, cli.app\n"
        "from typer.main import get_command\n"
        "get_command(cli.app.app)\n"
        "heavy = ('torch', 'transformers', 'textual', 'sqlalchemy', 'rich', 'numpy', 'yaml', 'alembic')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules if m.split('.')[0] in heavy}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_engine_never_imports_typer_or_textual():
    offenders = []
    for path in (REPO / "clpbert").rglob("*.py"):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if re.match(r"\s*(import|from)\s+(typer|textual)\b", line):
                offenders.append(f"{path.relative_to(REPO)}:{n}: {line.strip()}")
    assert offenders == []


def test_top_level_help_lines_match_each_commands_own_help() -> None:
    """COMMANDS keeps a copy of each command's one-line help so `--help` imports no command module."""
    from cli.app import COMMANDS, load_command

    for name, (_, text) in COMMANDS.items():
        help_line = load_command(name).get_short_help_str(10_000)
        assert help_line == text, f"update COMMANDS[{name!r}] in cli/app.py"


def test_help_imports_no_command_module() -> None:
    code = ("import sys, cli.app\n"
            "try:\n    cli.app.main(['--help'])\nexcept SystemExit:\n    pass\n"
            "from cli.app import COMMAND_MODULES\n"
            "print(sorted(m for m in COMMAND_MODULES if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_read_commands_import_no_orm_pydantic_or_rich(clpbert_home: Path):
    """`runs list/show`, `datasets list`, `ckpts list` and `gpus --json` stay at interactive speed:
    the registry is read through sqlite3, options are coerced without pydantic, pipes get plain text."""
    from clpbert.registry import open_registry
    from clpbert.runs.reconcile import reconcile

    with open_registry() as reg:  # one run and a retention pass already done: nothing to reconcile
        run = reg.create_run("finetune", "demo", name="one", state="finished")
        reg.add_dataset("demo", task="demo")
        reconcile(reg)
    code = (
        "import sys, cli.app\n"
        "try:\n    cli.app.main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "heavy = ('sqlalchemy', 'pydantic', 'rich', 'pynvml', 'torch', 'alembic')\n"
        "found = sorted({m.split('.')[0] for m in sys.modules} & set(heavy))\n"
        "sys.stderr.write('HEAVY=%s' % found)\n"
    )
    env = {**os.environ, "CLPBERT_HOME": str(clpbert_home)}
    env.pop("CLPBERT_DB_URL", None)
    for argv in (["runs", "list"], ["runs", "show", run.id], ["datasets", "list"], ["ckpts", "list"],
                 ["gpus", "--json"], ["runs", "list", "--limit", "2", "--state", "finished", "-a"]):
        proc = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, cwd=REPO,
                              env=env, timeout=60)
        assert proc.stderr.strip().endswith("HEAVY=[]"), (argv, proc.stderr)
        assert proc.returncode == 0 and (proc.stdout.strip() or argv == ["ckpts", "list"]), argv
