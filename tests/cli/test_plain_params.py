"""Option values coerced without pydantic give the values and the errors Typer's coercion gives."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cli.plain_params import _convert, _simple

REPO = Path(__file__).resolve().parents[2]


def test_simple_annotations_are_recognised_and_others_left_to_typer():
    assert _simple(int) == (int, False)
    assert _simple(str | None) == (str, False)
    assert _simple(list[str] | None) == (str, True)
    assert _simple(Path) is None and _simple(tuple[int, int]) is None and _simple(int | str) is None


@pytest.mark.parametrize(("kind", "value", "expected"), [
    (int, "12", 12), (float, "0.5", 0.5), (str, "x", "x"), (bool, "yes", True), (bool, "0", False),
    (int, 3, 3), (bool, True, True)])
def test_values_convert(kind, value, expected):
    assert _convert(kind, value, None, None) == expected
    assert type(_convert(kind, value, None, None)) is kind


def test_bad_values_and_ranges_are_refused_with_a_message():
    with pytest.raises(ValueError, match="'zero' is not a valid integer"):
        _convert(int, "zero", None, None)
    with pytest.raises(ValueError, match=r"0 is not in the range x>=1\."):
        _convert(int, "0", 1, None)
    with pytest.raises(ValueError, match=r"x>=0.1 and x<=2"):
        _convert(float, "3", 0.1, 2)
    with pytest.raises(ValueError, match="not a valid boolean"):
        _convert(bool, "maybe", None, None)


def test_cli_range_error_is_a_usage_error(tmp_path: Path):
    proc = subprocess.run([sys.executable, "-m", "cli.app", "--home", str(tmp_path), "runs", "list",
                           "--limit", "0"], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert proc.returncode == 2
    assert "Invalid value for '--limit': 0 is not in the range x>=1." in proc.stderr
