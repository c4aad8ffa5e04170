"""Which log file shows a run's trainer, and reading or following it: one answer for `clpbert runs
logs` and the TUI's log tab.

A local run's trainer writes RUN_DIR/logs/train.log. A Slurm run's output goes to the job's file,
RUN_DIR/logs/slurm-JOB.out (once the job has written it). Before this module the CLI knew the
Slurm rule and the TUI did not, so the TUI showed an empty log for every Slurm run.
"""

from __future__ import annotations

from collections.abc import Iterator
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


SLURM_SYNC_EVERY_S = 5.0
"""Following a Slurm run: how often its events (and squeue) are read for its state, as no
supervisor writes it."""
POLL_S = 0.5


class RunLog:
    """A run's log, read once or followed until the run ends (`clpbert runs logs [-f]`).

    `chunks` yields the bytes as they appear; following stops once the run is final, after one last
    read that picks up the final lines. `path` is the file shown (a Slurm run's may appear late).
    """

    def __init__(self, reg: Any, run: Any, supervisor: bool = False, tail: int = 0,
                 poll_s: float = POLL_S, sync_every_s: float = SLURM_SYNC_EVERY_S) -> None:
        from clpbert.runs.launch import is_slurm_run

        self.reg, self.run, self.tail = reg, run, tail
        self.poll_s, self.sync_every_s = poll_s, sync_every_s
        self.slurm = is_slurm_run(run)
        self.path = trainer_log(run, supervisor)

    def chunks(self, follow: bool = False) -> Iterator[bytes]:
        import time

        from clpbert.runs.lifecycle import is_final
        from clpbert.runs.slurm_sync import sync_slurm_run

        pos = 0
        next_sync = time.monotonic() + self.sync_every_s
        if self.path.exists() and self.tail:
            data = self.path.read_bytes()
            yield b"".join(data.splitlines(keepends=True)[-self.tail:])
            pos = len(data)  # not the size now: lines written since the read come next
        while True:
            if self.path.exists():
                with self.path.open("rb") as f:
                    f.seek(pos)
                    chunk = f.read()
                if chunk:
                    yield chunk
                    pos += len(chunk)
            if not follow:
                return
            if self.slurm and time.monotonic() >= next_sync:
                next_sync = time.monotonic() + self.sync_every_s
                sync_slurm_run(self.reg, self.reg.get_run(self.run.id))
                self.path = trainer_log(self.run)
            if is_final(self.reg.get_run(self.run.id).state):
                follow = False  # one last read picks up the final lines
                continue
            time.sleep(self.poll_s)

    def missing_note(self) -> str | None:
        """What to say when the file does not exist (yet)."""
        if self.path.exists():
            return None
        return f"run {self.run.id} has no {self.path.name} yet ({self.run.state})"
