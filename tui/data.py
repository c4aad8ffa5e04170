"""Everything the TUI reads or does, as plain calls the screens run in thread workers.

The screens never touch SQLAlchemy, NVML or the run manager directly: they call `TuiData`, which
calls the application layer (`clpbert.app`, the same functions as the CLI) and turns what it returns
into the small view records below (`RunRow`, `RunInfo`, `DetailUpdate`).
One `Registry` is shared by all workers (it is thread-safe); NVML is opened once, lazily, and
read under a lock.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clpbert.app.gpu_users import GpuUsers  # re-exported for the screens
from clpbert.app.job import job_label, job_line, job_of
from clpbert.app.run_detail import SeriesPoints  # re-exported for the screens
from clpbert.gpu.readings import NA_TEXT, GpuReading, GpuSnapshot, reading_from_sample
from clpbert.registry import Checkpoint, Dataset, Registry, Run, open_registry, process_samples
from clpbert.registry.entities import GpuSample
from clpbert.registry.process_samples import ProcessSample  # re-exported for the widgets
from clpbert.runs.loader_verdict import DATA_FRAC_METRIC, loader_verdict  # noqa: F401 (re-exported for the widgets)
from tui.widgets.eval_table import EvalRow
from tui.widgets.runs_table import RunQuery, RunRow

SORT_KEYS = {"id", "name", "task", "state", "step", "created", "started", "best_metric_value", "job_id"}


@dataclass(frozen=True)
class RunInfo:
    """A run as the detail screen shows it."""

    id: str
    name: str
    task: str
    dataset: str
    state: str
    step: int
    total_steps: int | None
    started: float | None
    ended: float | None
    latest_loss: float | None
    best_name: str | None
    best_value: float | None
    gpus: list[dict[str, Any]]
    host: str
    run_dir: str
    reason: str | None
    config: dict[str, Any]
    config_yaml: str
    on_this_host: bool
    tags: list[str] = field(default_factory=list)
    notes: str = ""
    job: str = ""
    """A node run's multi-node job, every node (clpbert.app.job.job_line); empty for a one-node run."""

    @property
    def train_log(self) -> Path:
        """The trainer's log (what the detail screen's log tab tails): `runs logs`' file, a Slurm
        job's output included (clpbert.app.run_logs)."""
        from clpbert.app.run_logs import trainer_log

        return trainer_log(self)


@dataclass
class DetailUpdate:
    """What changed for one run since the last refresh (or everything, on the first)."""

    info: RunInfo | None
    series: dict[str, SeriesPoints] = field(default_factory=dict)
    after_metric_id: int | None = None
    evals: list[EvalRow] = field(default_factory=list)
    after_eval_id: int | None = None
    last_samples: dict[str, GpuReading] = field(default_factory=dict)
    gpu_history: dict[str, tuple[list[float | None], list[float | None]]] = field(default_factory=dict)
    process_samples: list[ProcessSample] = field(default_factory=list)


@dataclass
class CompareData:
    metric: str
    infos: list[RunInfo]
    series: dict[str, SeriesPoints]
    metric_names: list[str]


@dataclass(frozen=True)
class GpuChoice:
    key: str
    """What the run manager takes: the GPU's index as text."""
    label: str
    free: bool


@dataclass
class NewRunChoices:
    """What the new-run dialog offers: tasks, (dataset, task) pairs, (ref, label) checkpoints, GPUs."""

    tasks: list[str]
    datasets: list[tuple[str, str]]
    checkpoints: list[tuple[str, str]]
    gpus: list[GpuChoice]
    gpu_reason: str | None = None


@dataclass(frozen=True)
class NewRunRequest:
    task: str
    dataset: str = ""
    init_checkpoint: str = ""
    gpus: list[str] = field(default_factory=list)
    name: str = ""
    overrides: list[str] = field(default_factory=list)


def run_row(run: Run) -> RunRow:
    gpus = ",".join(str(g.get("index", "?")) for g in run.gpus) if run.gpus else ""
    return RunRow(id=run.id, name=run.name, task=run.task, state=str(run.state), gpus=gpus, step=run.step,
                  total_steps=run.total_steps, started_at=run.started, loss=run.latest_loss,
                  best_name=run.best_metric_name, best_value=run.best_metric_value, created_at=run.created,
                  finished_at=run.ended, job=job_label(run))


def run_info(run: Run, job: str = "") -> RunInfo:
    import yaml

    config_yaml = yaml.safe_dump(run.config, sort_keys=False) if run.config else "# no config recorded\n"
    return RunInfo(id=run.id, name=run.name, task=run.task, dataset=run.dataset, state=str(run.state),
                   step=run.step, total_steps=run.total_steps, started=run.started, ended=run.ended,
                   latest_loss=run.latest_loss, best_name=run.best_metric_name,
                   best_value=run.best_metric_value, gpus=list(run.gpus), host=run.host, run_dir=run.run_dir,
                   reason=run.reason, config=dict(run.config), config_yaml=config_yaml,
                   on_this_host=run.host == socket.gethostname(), tags=[str(t) for t in run.tags],
                   notes=run.notes or "", job=job)


def sample_reading(sample: GpuSample) -> GpuReading:
    """A registry GPU sample as a reading (what the panel draws when the run is not live here)."""
    return reading_from_sample(sample)


def holders(users: GpuUsers, gpu: GpuReading) -> list[str]:
    """The runs in `users` (gpu_users()) using `gpu` (clpbert.app.gpu_users decides, as for the CLI)."""
    return users.of(gpu)


class TuiData:
    """The TUI's window on the registry, NVML and the run manager."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._gpu_lock = threading.Lock()
        self._monitor: Any = None

    @classmethod
    def open(cls, url: str | None = None) -> TuiData:
        return cls(open_registry(url))

    def close(self) -> None:
        if self._monitor is not None:
            self._monitor.close()
        self.registry.close()

    # -- runs ---------------------------------------------------------------------------------

    def reconcile(self) -> list[str]:
        """Mark runs whose supervisor died as `lost` (and offer the due retention slice); the ids marked.

        `clpbert tui` reconciles once at start; the app calls this periodically so a TUI left open
        for days neither shows a dead run as running nor lets GPU samples pile up uncompacted.
        """
        from clpbert.app.runs import reconcile

        return reconcile(self.registry)

    def runs_page(self, query: RunQuery, offset: int, limit: int) -> tuple[int, list[RunRow]]:
        """One window of the runs table: (count of matches, the rows at offset..offset+limit)."""
        from clpbert.app.run_list import runs_page

        sort = query.sort if query.sort in SORT_KEYS else "created"
        page = runs_page(self.registry, states=query.states, task=query.task, text=query.text, tag=query.tag,
                         order=("-" if query.descending else "") + sort, limit=limit, offset=offset)
        return page.total, [run_row(r) for r in page.grouped()]  # a job's node runs together, by node rank

    def tasks(self) -> list[str]:
        from clpbert.config import PRESETS

        return sorted(PRESETS)

    def detail_update(self, run_id: str, after_metric_id: int | None, after_eval_id: int | None,
                      max_points: int) -> DetailUpdate:
        """New rows since the ids given; `after_metric_id=None` means the first load."""
        from clpbert.app import run_detail
        from clpbert.errors import NotFoundError

        reg = self.registry
        try:
            run = reg.get_run(run_id)
        except NotFoundError:
            return DetailUpdate(info=None)
        view = job_of(reg, run)
        update = DetailUpdate(info=run_info(run, job_line(view) if view is not None else ""))
        update.series, update.after_metric_id = run_detail.metric_update(reg, run_id, after_metric_id,
                                                                         max_points)
        evals, update.after_eval_id = run_detail.evals_since(reg, run_id, after_eval_id)
        update.evals = [EvalRow(e.step, e.split, e.metrics) for e in evals]
        update.process_samples = process_samples.series(reg, run_id, limit=1)
        uuids = [g["uuid"] for g in run.gpus if g.get("uuid")]
        if uuids:
            update.last_samples = {u: sample_reading(s) for u, s in reg.latest_gpu_samples(uuids).items()}
            if after_metric_id is None:
                update.gpu_history = self.gpu_history(uuids, run_id=run_id)
        return update

    def gpu_history(self, uuids: Sequence[str], run_id: str | None = None, limit: int = 120
                    ) -> dict[str, tuple[list[float | None], list[float | None]]]:
        """uuid -> (temperatures, utilizations) of the newest `limit` samples the supervisors stored."""
        from clpbert.app import run_detail

        return run_detail.gpu_history(self.registry, uuids, run_id=run_id, limit=limit)

    def compare(self, run_ids: Sequence[str], metric: str, max_points: int) -> CompareData:
        from clpbert.app import run_detail

        runs, series, names = run_detail.compare_series(self.registry, run_ids, metric, max_points)
        return CompareData(metric, [run_info(r) for r in runs], series, names)

    # -- run actions (the run manager) ----------------------------------------------------------

    def stop_run(self, run_id: str) -> None:
        """SIGTERM through the supervisor (the trainer checkpoints first); returns without waiting."""
        from clpbert.app.runs import stop_run

        stop_run(self.registry, run_id, wait=False)

    def kill_run(self, run_id: str) -> None:
        from clpbert.app.runs import kill_run

        kill_run(self.registry, run_id, wait=False)

    def resume_run(self, run_id: str) -> None:
        from clpbert.app.runs import resume_run

        resume_run(self.registry, run_id)

    def edit_run(self, run_id: str, *, name: str, tags: Sequence[str], notes: str) -> None:
        """Set the run's name, tags and notes (registry and run.json), as `clpbert runs edit`."""
        from clpbert.app.run_actions import set_labels

        set_labels(self.registry, run_id, name=name, tags=tags, notes=notes)

    def delete_run(self, run_id: str) -> None:
        """Rows and run dir (`clpbert runs rm`); an active run is refused with a UserError."""
        from clpbert.app.runs import remove_run

        remove_run(self.registry, run_id)

    def new_run_choices(self) -> NewRunChoices:
        snapshot = self.gpu_snapshot()
        users = self.gpu_users(snapshot)
        gpus = []
        for g in snapshot.gpus:
            state = users.state_of(g)
            mem = (NA_TEXT if g.memory_used_mib is None
                   else f"{g.memory_used_mib:,.0f}/{g.memory_total_mib or 0:,.0f}MiB")
            label = f"GPU {g.index} {g.name or ''} {mem} - {state}"
            gpus.append(GpuChoice(str(g.index), label, state == "free"))
        return NewRunChoices(
            tasks=self.tasks(),
            datasets=[(d.name, d.task) for d in self.datasets()],
            checkpoints=[(c.name, f"{c.name} ({c.kind})") for c in self.checkpoints()],
            gpus=gpus, gpu_reason=snapshot.reason)

    def start_run(self, request: NewRunRequest) -> str:
        """Create and launch a real run (the run manager's call); returns its id."""
        from clpbert.app.run_actions import launch_task

        return launch_task(self.registry, request.task, dataset=request.dataset, init=request.init_checkpoint,
                           gpus=request.gpus, name=request.name, overrides=request.overrides).id

    # -- datasets and checkpoints ----------------------------------------------------------------

    def datasets(self) -> list[Dataset]:
        return self.registry.list_datasets()

    def checkpoints(self) -> list[Checkpoint]:
        return self.registry.list_checkpoints()

    def verify_dataset(self, ds: Dataset) -> tuple[bool, str]:
        """The check `clpbert datasets verify --no-decode` makes (decoding every video can take
        minutes; the CLI does it)."""
        from clpbert.app.datasets import verify_registered

        check = verify_registered(ds, decode=False)
        return check.ok, check.message()

    def verify_checkpoint(self, ck: Checkpoint) -> tuple[bool, str]:
        from clpbert.app.checkpoints import verify_checkpoint

        return verify_checkpoint(ck)

    # -- GPUs ---------------------------------------------------------------------------------

    def gpu_snapshot(self) -> GpuSnapshot:
        from clpbert.gpu.nvml import GpuMonitor

        with self._gpu_lock:
            if self._monitor is None:
                self._monitor = GpuMonitor()
            return self._monitor.snapshot()

    def gpu_users(self, snapshot: GpuSnapshot | None = None) -> GpuUsers:
        """This host's live runs using each GPU: recorded at launch, or owning a listed process."""
        from clpbert.app.gpu_users import gpu_users

        return gpu_users(self.registry, snapshot)
