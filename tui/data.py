"""Everything the TUI reads or does, as plain calls the screens run in thread workers.

The screens never touch SQLAlchemy, NVML or the run manager directly: they call `TuiData`, which
turns registry records into the small view records below (`RunRow`, `RunInfo`, `DetailUpdate`).
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
from clpbert.app.job import group_jobs, job_label, job_line, job_of
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


SeriesPoints = list[tuple[float, float | None]] | list[tuple[float, float | None, float | None, float | None]]
"""(step, value) points as logged, or (step, mean, min, max) buckets of a downsampled series."""


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
        from clpbert.runs.reconcile import reconcile

        return reconcile(self.registry)

    def runs_page(self, query: RunQuery, offset: int, limit: int) -> tuple[int, list[RunRow]]:
        """One window of the runs table: (count of matches, the rows at offset..offset+limit)."""
        filters = {"state": list(query.states) or None, "task": query.task or None,
                   "text": query.text or None, "tag": query.tag or None}
        sort = query.sort if query.sort in SORT_KEYS else "created"
        order = ("-" if query.descending else "") + sort
        total = self.registry.count_runs(**filters)
        runs = self.registry.list_runs(**filters, order=order, limit=limit, offset=offset)
        return total, [run_row(r) for r in group_jobs(runs)]  # a job's node runs together, by node rank

    def tasks(self) -> list[str]:
        from clpbert.config import PRESETS

        return sorted(PRESETS)

    def detail_update(self, run_id: str, after_metric_id: int | None, after_eval_id: int | None,
                      max_points: int) -> DetailUpdate:
        """New rows since the ids given; `after_metric_id=None` means the first load."""
        from clpbert.errors import NotFoundError

        reg = self.registry
        try:
            run = reg.get_run(run_id)
        except NotFoundError:
            return DetailUpdate(info=None)
        view = job_of(reg, run)
        update = DetailUpdate(info=run_info(run, job_line(view) if view is not None else ""))
        if after_metric_id is None:
            update.after_metric_id = reg.last_metric_id(run_id)
            for name in reg.metric_names(run_id):
                s = reg.metric_series(run_id, name, max_points=max_points)
                update.series[name] = list(zip(s.steps, s.values, s.mins, s.maxs, strict=True))
        else:
            update.after_metric_id = after_metric_id
            for m in reg.metrics_since(run_id, after_metric_id, limit=100_000):
                update.series.setdefault(m.name, []).append((m.step, m.value))
                update.after_metric_id = m.id
        evals = [e for e in reg.list_evals(run_id) if after_eval_id is None or e.id > after_eval_id]
        update.evals = [EvalRow(e.step, e.split, e.metrics) for e in evals]
        update.after_eval_id = max([e.id for e in evals], default=after_eval_id or 0)
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
        out = {}
        for uuid in uuids:
            hist = self.registry.gpu_series(uuid, run_id=run_id, limit=limit)
            out[uuid] = ([h.temperature for h in hist], [h.util for h in hist])
        return out

    def compare(self, run_ids: Sequence[str], metric: str, max_points: int) -> CompareData:
        reg = self.registry
        infos = [run_info(reg.get_run(r)) for r in run_ids]
        names: set[str] = set()
        series = {}
        for info in infos:
            names.update(reg.metric_names(info.id))
            s = reg.metric_series(info.id, metric, max_points=max_points)
            series[info.id] = list(zip(s.steps, s.values, s.mins, s.maxs, strict=True))
        return CompareData(metric, infos, series, sorted(names))

    # -- run actions (the run manager) ----------------------------------------------------------

    def stop_run(self, run_id: str) -> None:
        """SIGTERM through the supervisor (the trainer checkpoints first); returns without waiting."""
        from clpbert.runs import service

        service.stop_run(self.registry, run_id, wait=False)

    def kill_run(self, run_id: str) -> None:
        from clpbert.runs import service

        service.kill_run(self.registry, run_id, wait=False)

    def resume_run(self, run_id: str) -> None:
        from clpbert.runs import service

        service.resume_run(self.registry, run_id)

    def edit_run(self, run_id: str, *, name: str, tags: Sequence[str], notes: str) -> None:
        """Set the run's name, tags and notes (registry and run.json), as `clpbert runs edit`."""
        from clpbert.runs.run_dirs import edit_run

        current = [str(t) for t in self.registry.get_run(run_id).tags]
        added = [t for t in tags if t not in current]
        removed = [t for t in current if t not in tags]
        edit_run(self.registry, run_id, name=name, notes=notes, add_tags=added, remove_tags=removed)

    def delete_run(self, run_id: str) -> None:
        """Rows and run dir (`clpbert runs rm`); an active run is refused with a UserError."""
        from clpbert.runs import service

        service.remove_run(self.registry, run_id)

    def new_run_choices(self) -> NewRunChoices:
        snapshot = self.gpu_snapshot()
        users = self.gpu_users(snapshot)
        gpus = []
        for g in snapshot.gpus:
            held_by = holders(users, g)
            foreign = [p.pid for p in g.processes or []]
            if held_by:
                state = "busy: " + ", ".join(held_by)
            elif foreign:
                state = f"busy: {len(foreign)} other process(es)"
            else:
                state = "free"
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
        from clpbert.runs import service

        kind = "pretrain" if request.task == "pretrain" else "finetune"
        launch = service.LaunchRequest(kind=kind, task=request.task, dataset=request.dataset or None,
                                       init=request.init_checkpoint or None,
                                       gpus=",".join(request.gpus) or None, sets=list(request.overrides),
                                       name=request.name)
        return service.launch_run(self.registry, launch).id

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
        from clpbert.registry.checksum import sha256_file

        digest, size = sha256_file(ck.path)
        if ck.sha256 and digest != ck.sha256:
            return False, (f"checkpoint {ck.name}: sha256 mismatch (file {digest[:12]}, "
                           f"registered {ck.sha256[:12]})")
        return True, f"checkpoint {ck.name}: OK (sha256 {digest[:12]}, {size:,} bytes)"

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
