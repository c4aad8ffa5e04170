"""Nothing a user types reaches job.sbatch as shell code (issue 17, defect 6): names and tags with
control characters and bad Slurm values are refused at launch, everything else is quoted. The
scripts are run with bash and stand-ins for srun/scontrol/python, and must not create the file
the hostile values try to create."""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
from pathlib import Path

import pytest

from clpbert.errors import UserError
from clpbert.runs.launch import SlurmOptions, slurm_script

HOSTILE = ["x\ntouch PWNED", "x\rtouch PWNED", "a'; touch PWNED; '", 'a"; touch PWNED; "', "$(touch PWNED)",
           "`touch PWNED`", "a;touch PWNED", "a && touch PWNED", "x --wrap=touch PWNED"]


@pytest.fixture
def cli(inproc):
    """`clpbert ARGS` in this process (the suite's in-process CLI)."""
    return inproc


def _nothing_written(home: Path) -> None:
    runs = home / "runs"
    assert not runs.exists() or not any(runs.iterdir())


SLURM = ["run", "finetune", "--task", "demo", "--set", "data.dataset=", "--set", "data.txt_db=unused",
         "--slurm"]


@pytest.mark.parametrize("value", ["x\ntouch PWNED", "x\rtouch PWNED", "a\x1b[2Jb", "a\u202eb", "a\x00b"])
@pytest.mark.parametrize("flag", ["--name", "--tag"])
def test_names_and_tags_with_control_characters_are_refused(cli, clpbert_home: Path, flag: str, value: str):
    res = cli(*SLURM, flag, value)
    assert res.returncode == 2 and "control character" in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    _nothing_written(clpbert_home)


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("flag", ["--partition", "--time"])
def test_hostile_slurm_values_are_refused(cli, clpbert_home: Path, flag: str, value: str):
    res = cli(*SLURM, flag, value)
    assert res.returncode == 2 and flag in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    _nothing_written(clpbert_home)


@pytest.mark.parametrize(("kw", "ok"), [({"partition": "gpu,debug"}, True), ({"account": "proj-1_a"}, True),
                                        ({"time_limit": "2-00:00:00"}, True), ({"time_limit": "90"}, True),
                                        ({"time_limit": "UNLIMITED"}, True), ({"account": "a b"}, False),
                                        ({"time_limit": "4h"}, False), ({"gpus_per_node": -1}, False)])
def test_slurm_options_validate_every_value(kw: dict, ok: bool):
    if ok:
        SlurmOptions(**kw)
    else:
        with pytest.raises(UserError):
            SlurmOptions(**kw)


def _run_script(tmp_path: Path, text: str) -> list[str]:
    """Run the script as one node would; returns the trainer argv the fake python received."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    argv_file = tmp_path / "argv"

    def shim(name: str, body: str) -> None:
        p = bin_dir / name
        p.write_text("#!/bin/bash\n" + body)
        p.chmod(p.stat().st_mode | stat.S_IEXEC)

    shim("scontrol", 'printf "nodeA\\n"\n')
    shim("srun", 'while [[ "$1" == --* ]]; do shift; done\nSLURM_NODEID=0 "$@"\n')
    shim("fakepython", f'printf "%s\\n" "$@" > {shlex.quote(str(argv_file))}\n')
    script = tmp_path / "job.sbatch"
    script.write_text(text)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "SLURM_JOB_NODELIST": "nodeA",
           "SLURM_NNODES": "1", "CLPBERT_PYTHON": str(bin_dir / "fakepython")}
    subprocess.run(["bash", str(script)], env=env, check=True, timeout=30, cwd=tmp_path)
    return argv_file.read_text().splitlines()


@pytest.mark.parametrize("name", [n for n in HOSTILE if "\n" not in n and "\r" not in n])
def test_hostile_but_printable_names_stay_data(tmp_path: Path, name: str):
    # quotes, $(), backticks, ';' are allowed in a name; in the script they are never code, and the
    # job name keeps to one #SBATCH option
    run_dir = tmp_path / "run"
    text = slurm_script("abcd1234", name, run_dir, run_dir / "config.yaml", SlurmOptions(nnodes=1))
    for line in text.splitlines():
        if line.startswith("#SBATCH"):
            assert len(line.split()) == 2, line
    argv = _run_script(tmp_path, text)
    assert not (tmp_path / "PWNED").exists()
    assert argv[-2:] == ["--config", str(run_dir / "config.yaml")]


def test_hostile_paths_of_python_and_run_dir_are_quoted(tmp_path: Path):
    odd = "r$(touch${IFS}PWNED)`touch${IFS}PWNED2`;'\"x"
    run_dir = tmp_path / odd
    text = slurm_script("abcd1234", "n", run_dir, run_dir / "config.yaml", SlurmOptions(nnodes=1),
                        python=str(tmp_path / "bin" / "$(touch PWNED3)"))
    env_python = _run_script(tmp_path, text)
    assert env_python[-1] == str(run_dir / "config.yaml")
    assert (run_dir / "logs").is_dir()
    assert not any((tmp_path / p).exists() for p in ("PWNED", "PWNED2", "PWNED3"))
    # without CLPBERT_PYTHON set, the default interpreter path is a quoted word, not a command
    assert "CLPBERT_PYTHON=" + shlex.quote(str(tmp_path / "bin" / "$(touch PWNED3)")) in text


def test_run_dir_with_whitespace_is_refused_for_slurm(tmp_path: Path):
    run_dir = tmp_path / "a b"
    with pytest.raises(UserError, match="CLPBERT_HOME"):
        slurm_script("abcd1234", "n", run_dir, run_dir / "config.yaml", SlurmOptions(nnodes=1))
