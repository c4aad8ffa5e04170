"""SQLAlchemy ORM tables of the registry. Only clpbert/registry/ touches these classes.

The rest of the code sees the frozen dataclasses in `entities.py`, returned by `queries.py`.
Timestamps are float seconds since the epoch (like `time.time()` and events.jsonl), so SQLite and
PostgreSQL store and compare them the same way. JSON columns hold small dicts/lists.

Changing a table means a new Alembic revision in `migrations/versions/` (tests compare the
migrated schema with this metadata).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from clpbert.runs.lifecycle import RunState

# 64-bit on PostgreSQL; SQLite needs exactly INTEGER for an auto-incrementing rowid alias.
BigId = BigInteger().with_variant(Integer, "sqlite")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class DatasetRow(Base):
    """A prepared dataset: where its txt_db/vis_db/tokenizer are and how many examples per split."""

    __tablename__ = "datasets"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    format: Mapped[str] = mapped_column(String(100), default="")
    task: Mapped[str] = mapped_column(String(100), default="")
    txt_db: Mapped[str] = mapped_column(Text, default="")
    vis_db: Mapped[str] = mapped_column(Text, default="")
    tokenizer: Mapped[str] = mapped_column(Text, default="")
    splits: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    fingerprint: Mapped[str] = mapped_column(String(200), default="")
    created: Mapped[float] = mapped_column(Float)


class RunRow(Base):
    """One experiment: pretrain/finetune/eval, its state machine and its summary numbers."""

    __tablename__ = "runs"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    kind: Mapped[str] = mapped_column(String(20), default="finetune")
    task: Mapped[str] = mapped_column(String(100), default="")
    dataset: Mapped[str] = mapped_column(String(200), default="")
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(20), default=RunState.QUEUED.value, index=True)
    host: Mapped[str] = mapped_column(String(255), default="")
    gpus: Mapped[list[Any]] = mapped_column(JSON, default=list)
    nnodes: Mapped[int] = mapped_column(Integer, default=1)
    supervisor_pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    supervisor_create_time: Mapped[float | None] = mapped_column(Float, nullable=True)
    exit_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    signal: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created: Mapped[float] = mapped_column(Float, index=True)
    started: Mapped[float | None] = mapped_column(Float, nullable=True)
    ended: Mapped[float | None] = mapped_column(Float, nullable=True, index=True)  # retention: recently ended
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    notes: Mapped[str] = mapped_column(Text, default="")
    run_dir: Mapped[str] = mapped_column(Text, default="")
    step: Mapped[int] = mapped_column(Integer, default=0)
    total_steps: Mapped[int | None] = mapped_column(Integer, nullable=True)
    best_metric_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    best_metric_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    latest_loss: Mapped[float | None] = mapped_column(Float, nullable=True)
    # A multi-node job whose nodes are each their own run (`--nnodes N --node-rank R`): what links
    # them. job_id is node 0's run id (node 0 knows it at launch, the others at the rendezvous);
    # job_nodes is every node of the job as the rendezvous saw it ({node_rank, run_id, host}).
    job_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    node_rank: Mapped[int | None] = mapped_column(Integer, nullable=True)
    job_nodes: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)


class CheckpointRow(Base):
    """A weights file on disk (downloaded, converted or written by a run)."""

    __tablename__ = "checkpoints"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    path: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(20), default="finetuned")
    source: Mapped[str] = mapped_column(Text, default="")
    sha256: Mapped[str] = mapped_column(String(64), default="")
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    run_id: Mapped[str | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"), nullable=True)
    step: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created: Mapped[float] = mapped_column(Float)
    notes: Mapped[str] = mapped_column(Text, default="")


class AttemptRow(Base):
    """One start of a run's processes; a resume is a new attempt of the same run."""

    __tablename__ = "attempts"
    __table_args__ = (UniqueConstraint("run_id", "number", name="uq_attempts_run_id_number"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    started: Mapped[float] = mapped_column(Float)
    ended: Mapped[float | None] = mapped_column(Float, nullable=True)
    state: Mapped[str] = mapped_column(String(20), default=RunState.RUNNING.value)
    exit_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    signal: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    resumed_from: Mapped[str | None] = mapped_column(Text, nullable=True)


class MetricRow(Base):
    """Every logged scalar. Written in bulk through Core (never ORM objects) for speed.

    `value` is NULL for NaN (SQLite cannot store NaN); reads turn NULL back into NaN.
    The (run_id, name, step, value) index covers the downsampling query; (run_id, id) serves
    incremental reads (`metrics_since`).
    """

    __tablename__ = "metrics"
    __table_args__ = (
        Index("ix_metrics_run_name_step", "run_id", "name", "step", "value"),
        Index("ix_metrics_run_id_id", "run_id", "id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    step: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    time: Mapped[float] = mapped_column(Float)


class MetricLatestRow(Base):
    """The latest (highest-step) value of each metric of each run, upserted on ingest, and how
    many points the metric has (so plotting knows the series size without counting rows)."""

    __tablename__ = "metric_latest"
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    step: Mapped[int] = mapped_column(Integer)
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    time: Mapped[float] = mapped_column(Float)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class EvalRow(Base):
    """One evaluation of a run on one split: a dict of metric name -> value."""

    __tablename__ = "evals"
    __table_args__ = (Index("ix_evals_run_step", "run_id", "step"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    step: Mapped[int] = mapped_column(Integer)
    split: Mapped[str] = mapped_column(String(100))
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    time: Mapped[float] = mapped_column(Float)


class EvalPredictionsRow(Base):
    """The predictions file of one evaluation (RUN_DIR-relative path, as the eval event names it)."""

    __tablename__ = "eval_predictions"
    eval_id: Mapped[int] = mapped_column(ForeignKey("evals.id", ondelete="CASCADE"), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(20), default="")
    rows: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[float] = mapped_column(Float)


class GpuSampleRow(Base):
    """One NVML reading of one GPU; any reading may be NULL (not available)."""

    __tablename__ = "gpu_samples"
    __table_args__ = (
        Index("ix_gpu_samples_uuid_time", "gpu_uuid", "time"),
        Index("ix_gpu_samples_run_time", "run_id", "time"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[str | None] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), nullable=True)
    gpu_uuid: Mapped[str] = mapped_column(String(100))
    gpu_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    time: Mapped[float] = mapped_column(Float)
    util: Mapped[float | None] = mapped_column(Float, nullable=True)
    mem_used: Mapped[float | None] = mapped_column(Float, nullable=True)
    mem_total: Mapped[float | None] = mapped_column(Float, nullable=True)
    power: Mapped[float | None] = mapped_column(Float, nullable=True)
    temperature: Mapped[float | None] = mapped_column(Float, nullable=True)


class GpuReservationRow(Base):
    """The scheduler's ledger: GPU (host, key) -> the run holding it. The primary key makes
    double-booking impossible even with several schedulers racing."""

    __tablename__ = "gpu_reservations"
    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    gpu_key: Mapped[str] = mapped_column(String(100), primary_key=True)
    gpu_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    gpu_uuid: Mapped[str | None] = mapped_column(String(100), nullable=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    reserved_at: Mapped[float] = mapped_column(Float)


class GpuCompactionRow(Base):
    """How far a run's GPU samples are compacted (retention.py): every bucket before
    `compacted_until` holds at most one row per GPU, so a pass starts there and never re-reads."""

    __tablename__ = "gpu_compaction"
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    compacted_until: Mapped[float] = mapped_column(Float)


class MaintenanceRow(Base):
    """One periodic registry chore (retention.py: "gpu_samples"). `next_at` is both the rate limit
    and the claim: a process takes a pass by moving it forward with a compare-and-set.
    `watermark` and `pass_cutoff` are the chore's progress (for gpu_samples: how far the samples
    without a run are compacted, and the cutoff of the last complete pass)."""

    __tablename__ = "maintenance"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    next_at: Mapped[float] = mapped_column(Float)
    watermark: Mapped[float | None] = mapped_column(Float, nullable=True)
    pass_cutoff: Mapped[float | None] = mapped_column(Float, nullable=True)


class ProcessSampleRow(Base):
    """One 1 Hz reading of a run's whole process tree on one host (every rank and loader worker):
    CPU % (100 = one core), resident memory and bytes read from storage per second."""

    __tablename__ = "process_samples"
    __table_args__ = (Index("ix_process_samples_run_time", "run_id", "time"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    host: Mapped[str] = mapped_column(String(255), default="")
    time: Mapped[float] = mapped_column(Float)
    processes: Mapped[int] = mapped_column(Integer, default=0)
    cpu_pct: Mapped[float | None] = mapped_column(Float, nullable=True)
    rss_mib: Mapped[float | None] = mapped_column(Float, nullable=True)
    read_mib_s: Mapped[float | None] = mapped_column(Float, nullable=True)
