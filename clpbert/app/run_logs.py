"""Which log file shows a run's trainer: one answer for `clpbert runs logs` and the TUI's log tab.

A local run's trainer writes RUN_DIR/logs/train.log. A Slurm run's output goes to the job's file,
RUN_DIR/logs/slurm-JOB.out (once the job has written it). Before this module the CLI knew the
Slurm rule and the TUI did not, so the TUI showed an empty log for every Slurm run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from clpbert.errors import UserError


def trainer_log(run: Any, supervisor: bool = False) -> Path:
    """The file to show for `run` (a registry Run or anything with id, host and run_dir);
    supervisor=True: the supervisor's own log, which a Slurm run does not have (UserError)."""
    from clpbert.runs.launch import is_slurm_run
    from clpbert.runs.run_dir import RunDir
    from clpbert.runs.slurm_sync import slurm_log

    slurm = is_slurm_run(run)
    if slurm and supervisor:
        raise UserError(f"run {run.id} runs under Slurm and has no supervisor log; leave out --supervisor")
    rd = RunDir(run.run_dir)
    own = rd.supervisor_log if supervisor else rd.train_log
    return (slurm_log(run) if slurm else None) or own
