"""RunDir: every path inside a run dir, named once, and its small JSON files read and written safely.

    RUN_DIR/
      run.json          who the run is (id, name, tags, notes): lets the dir be imported elsewhere
      config.yaml       the resolved config (dataset and checkpoint paths included)
      launch.json       the GPU request and topology of the current attempt
      control.json      the latest stop/kill request to the supervisor
      processes.json    supervisor and trainer identities (pid + create time)
      events.jsonl      the trainer's durable record (rank 0 appends)
      ingest.offset     how far the registry has read events.jsonl
      ingest.lock       one ingesting process at a time (Slurm runs)
      job.sbatch        the Slurm script (Slurm runs only)
      logs/             train.log, supervisor.log, slurm-<job>.out
      checkpoints/      step_*.pt, best.pt, latest.json (-> the newest step file)

Writes go through clpbert.fileio (temp file, fsync, rename, directory fsync), so a reader or a
restart after kill -9 sees the old file or the new one. Standard library only: the trainer,
predict, the run manager and both front-ends import it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clpbert.fileio import atomic_write_json, atomic_write_text

RUN_FILE = "run.json"
CONFIG_FILE = "config.yaml"
LAUNCH_FILE = "launch.json"
CONTROL_FILE = "control.json"
PROCESSES_FILE = "processes.json"
EVENTS_FILE = "events.jsonl"
OFFSET_FILE = "ingest.offset"
LOCK_FILE = "ingest.lock"
SLURM_SCRIPT = "job.sbatch"
LOGS_DIR = "logs"
TRAIN_LOG = "train.log"
SUPERVISOR_LOG = "supervisor.log"
SLURM_LOG_PATTERN = "slurm-%j.out"
"""sbatch --output's pattern inside logs/ (%j: the job id)."""
CKPT_DIR = "checkpoints"
LATEST = "latest.json"
BEST = "best.pt"


@dataclass(frozen=True)
class RunDir:
    """One run's directory. Path properties never touch the disk; `create()` makes the folders."""

    path: Path

    def __init__(self, path: str | os.PathLike[str]):
        object.__setattr__(self, "path", Path(path))

    def __fspath__(self) -> str:
        return str(self.path)

    def create(self) -> RunDir:
        (self.path / LOGS_DIR).mkdir(parents=True, exist_ok=True)
        return self

    # ---------------------------------------------------------------- paths

    @property
    def run_file(self) -> Path:
        return self.path / RUN_FILE

    @property
    def config(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def launch_file(self) -> Path:
        return self.path / LAUNCH_FILE

    @property
    def control_file(self) -> Path:
        return self.path / CONTROL_FILE

    @property
    def processes_file(self) -> Path:
        return self.path / PROCESSES_FILE

    @property
    def events(self) -> Path:
        return self.path / EVENTS_FILE

    @property
    def ingest_offset(self) -> Path:
        return self.path / OFFSET_FILE

    @property
    def ingest_lock(self) -> Path:
        return self.path / LOCK_FILE

    @property
    def slurm_script(self) -> Path:
        return self.path / SLURM_SCRIPT

    @property
    def logs(self) -> Path:
        return self.path / LOGS_DIR

    @property
    def train_log(self) -> Path:
        return self.logs / TRAIN_LOG

    @property
    def supervisor_log(self) -> Path:
        return self.logs / SUPERVISOR_LOG

    def slurm_log(self, job: str | None = None) -> Path:
        """logs/slurm-<job>.out; without a job, sbatch's --output pattern."""
        return self.logs / (SLURM_LOG_PATTERN if job is None else SLURM_LOG_PATTERN.replace("%j", str(job)))

    @property
    def checkpoints(self) -> Path:
        return self.path / CKPT_DIR

    @property
    def latest_pointer(self) -> Path:
        return self.checkpoints / LATEST

    @property
    def best_checkpoint(self) -> Path:
        return self.checkpoints / BEST

    # ---------------------------------------------------------------- reads and writes

    def read_json(self, name: str) -> Any:
        """The JSON file `name` of the run dir; None when it is missing or unreadable."""
        try:
            return json.loads((self.path / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def write_json(self, name: str, data: Any, indent: int | None = None) -> Path:
        """Write `name` atomically (fileio.atomic_write_json); its path."""
        path = self.path / name
        atomic_write_json(path, data, indent=indent)
        return path

    def write_text(self, name: str, text: str) -> Path:
        path = self.path / name
        atomic_write_text(path, text)
        return path

    def latest_target(self) -> Path | None:
        """The step file checkpoints/latest.json names (None without a readable pointer)."""
        data = self.read_json(f"{CKPT_DIR}/{LATEST}")
        try:
            return self.checkpoints / data["path"]
        except (TypeError, KeyError):
            return None

    def latest_checkpoint(self) -> Path | None:
        """The step file checkpoints/latest.json points at, if both exist."""
        path = self.latest_target()
        return path if path is not None and path.exists() else None
