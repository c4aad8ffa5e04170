"""The README's set-up commands stay true: CI runs exactly the README's test command."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    lines = (REPO / "README.md").read_text().splitlines()
    return [line.strip() for line in lines[:40] if line.strip().startswith("python3 -m venv")]


def test_readme_opens_with_demo_and_test_commands() -> None:
    demo, test = _readme_commands()[:2]
    assert demo.endswith("clpbert demo")
    assert "pytest" in test


def test_ci_runs_exactly_the_readme_test_command() -> None:
    test = _readme_commands()[1]
    ci_lines = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
    assert test in ci_lines
