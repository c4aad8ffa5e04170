"""The registry service layer: the only way the CLI, TUI, supervisor and downloader touch the DB.

One `Registry` facade; its methods live by aggregate in catalog_queries.py (datasets, checkpoints),
run_queries.py (runs, attempts), metric_queries.py (metrics, evals) and gpu_queries.py (GPU samples,
reservations), on the shared plumbing of store.py.

    from clpbert.registry import open_registry
    with open_registry() as reg:             # url=None: $CLPBERT_DB_URL or sqlite:///<home>/registry.db
        run = reg.create_run("finetune", "msrvtt_qa", dataset="msrvtt", config=cfg.to_dict())
        reg.add_metrics(run.id, [(10, "loss", 2.3, time.time())])

Open one Registry per process (after any fork) and share it between threads; it is thread-safe.
Every method returns frozen dataclasses from `entities.py` (never ORM rows) and commits before it
returns. Times are float epoch seconds; `now` defaults to time.time(). Unknown names raise
`NotFoundError` (a UserError) whose message says how to list valid ones; bad values raise
`UserError`; programming mistakes (unknown field names) raise TypeError/ValueError.

Datasets (name is unique)
    add_dataset(name, *, format="", task="", txt_db="", vis_db="", tokenizer="", splits=None,
                fingerprint="") -> Dataset            upsert by name (keeps id and created)
    get_dataset(name) -> Dataset                      NotFoundError if absent
    list_datasets(task=None) -> list[Dataset]         by name
    remove_dataset(name) -> Dataset                   the removed row (files are not touched)

Checkpoints (name is unique; `ref` = name, numeric id, or file path)
    add_checkpoint(path, *, name=None, kind="finetuned", source="", sha256="", size=None,
                   run_id=None, step=None, notes="", replace=False) -> Checkpoint
        path is stored absolute; name defaults to the file stem; size defaults to the file's size;
        kind in pretrained|e2e|cnn|bert|finetuned; an existing name is a UserError unless replace.
    get_checkpoint(ref) -> Checkpoint
    list_checkpoints(kind=None, run_id=None) -> list[Checkpoint]     newest first
    remove_checkpoint(ref) -> Checkpoint              the removed row (the file is not touched)

Runs (id = 8 hex chars; `ref` = full id, a unique id prefix, or a unique run name)
    create_run(kind, task, *, dataset="", name="", config=None, tags=(), notes="", run_dir=None,
               total_steps=None, gpus=(), nnodes=1, host=None, state=QUEUED, run_id=None,
               node_rank=None, job_id=None) -> Run
        run_dir defaults to paths.run_dir(id) (not created here); host to this machine's name.
        node_rank/job_id: a node run of a multi-node job (job_id = node 0's run id).
    get_run(ref) -> Run                               NotFoundError / ambiguous prefix UserError
    list_runs(*, state=None, task=None, kind=None, text=None, order="-created", limit=None,
              offset=0, with_config=False) -> list[Run]
        state: one state or a list; text: case-insensitive substring of id/name/task/dataset/
        notes/tags; order: a column name, "-" prefix = descending (created, started, ended, name,
        state, task, kind, step, id, best_metric_value, job_id: node runs of a job together).
        Listings leave Run.config = {} unless with_config=True (keeps a 10k-run listing fast);
        get_run always fills it.
    count_runs(*, state=None, task=None, kind=None, text=None) -> int
    list_job_runs(job_id) -> list[Run]                the node runs of one multi-node job held in
                                                      this registry, by node rank
    update_run(run_id, **fields) -> Run               any Run field but id (e.g. step=, notes=,
                                                      supervisor_pid=, best_metric_value=, gpus=)
    set_run_state(run_id, state, *, reason=None, exit_code=None, signal=None, only_from=None) -> bool
        Writes state, reason, exit_code and signal (None clears them). Entering `running` sets
        `started` (first time only); a terminal state (finished|failed|killed|lost) sets `ended`,
        any other state clears it. only_from=[states]: compare-and-set, returns False (and
        changes nothing) when the run is in another state — use it to avoid racing transitions.
        Every (only_from -> state) pair must be in clpbert.runs.lifecycle.TRANSITIONS, else
        IllegalTransition (a bug in the caller).
    delete_run(run_id) -> Run                         cascades to attempts, metrics, evals, GPU
                                                      samples, reservations; checkpoints keep
                                                      their row with run_id = None. The run dir
                                                      on disk is not touched.

Attempts (one per start of a run's processes; a resume is a new attempt)
    start_attempt(run_id, *, resumed_from=None, now=None) -> Attempt    number = previous + 1
    end_attempt(run_id, state, *, number=None, exit_code=None, signal=None, reason=None,
                now=None) -> Attempt                  number=None: the latest attempt
    list_attempts(run_id) -> list[Attempt]            by number

Metrics (scalars; one row per (step, name) point)
    add_metrics(run_id, rows) -> int                  rows: iterable of (step, name, value, time)
        One transaction, bulk insert (Core executemany), then the latest value per name is
        upserted into metric_latest (only if its step is >= the stored one) and the run's `step`
        (max) and `latest_loss` (latest "loss") are updated. NaN is stored as NULL and read back
        as NaN. Returns the number of points inserted.
    metric_names(run_id) -> list[str]                 sorted
    latest_metrics(run_id) -> dict[str, MetricLatest]
    metric_series(run_id, name, *, max_points=None, min_step=None, max_step=None) -> MetricSeries
        max_points=None: every point. Otherwise, when there are more points, the step range is
        cut into max_points equal buckets in SQL and each bucket gives (last step, mean, min, max).
    metrics_since(run_id, after_id=0, *, names=None, limit=None) -> list[Metric]
        points with id > after_id in insertion order; keep the last id for the next poll.
    last_metric_id(run_id) -> int                     the newest point's id (0 if none): where a
                                                      viewer that loaded metric_series starts polling

Evals
    add_eval(run_id, step, split, metrics, *, time=None) -> Eval
    list_evals(run_id, split=None) -> list[Eval]      by step, then id
    latest_eval(run_id, split=None) -> Eval | None
    add_eval_predictions(eval_id, path, *, kind, rows, now=None) -> EvalPredictions
        path: the saved predictions file, relative to the run dir (one per eval; replaces)
    list_eval_predictions(run_id) -> dict[int, EvalPredictions]     by eval id
    remove_eval_predictions(eval_ids) -> int          rows removed (files are not touched)

GPU samples (any reading may be None = N/A)
    add_gpu_samples(samples) -> int                   GpuSample objects or dicts with its fields
    latest_gpu_samples(uuids=None) -> dict[str, GpuSample]    newest sample per GPU uuid
    gpu_series(uuid, *, since=None, until=None, run_id=None, limit=None) -> list[GpuSample]
    prune_gpu_samples(before) -> int                  delete samples older than `before`
    Retention (1 Hz for a day and while the run is active, then 1-minute buckets; run-less samples
    go after 30 days) lives in `retention.py`: compact_run(reg, run_id), maybe_compact(reg, ...).

GPU reservations (the scheduler's ledger; one row per (host, GPU))
    reserve_gpus(run_id, gpus, *, host=None) -> list[GpuReservation]
        gpus: ints (index), (index, uuid) pairs or {"index", "uuid"} dicts; the key is the uuid,
        else "index:<n>". All-or-nothing: raises GpusBusyError (a UserError, `.holders` maps
        key -> run id) if any is held by another run; re-reserving your own GPUs is a no-op.
    release_gpus(run_id, *, host=None) -> int         rows released
    reserved_gpus(*, host=None) -> list[GpuReservation]       host=None: every host

Other: Registry.url (password hidden), .backend ("sqlite" | "postgresql"), .revision, .close().
"""

from __future__ import annotations

from clpbert.registry.catalog_queries import CatalogQueries
from clpbert.registry.gpu_queries import GpuQueries, GpusBusyError
from clpbert.registry.metric_queries import MetricQueries
from clpbert.registry.run_queries import RunQueries

__all__ = ["GpusBusyError", "Registry", "open_registry"]


class Registry(CatalogQueries, RunQueries, MetricQueries, GpuQueries):
    """A handle on one registry database. See the module docstring for every method."""


def open_registry(url: str | None = None) -> Registry:
    """Open (creating or migrating if needed) the registry at `url` or paths.db_url()."""
    return Registry(url)
