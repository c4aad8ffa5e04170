"""What the CLI and the TUI call to start, watch, stop, resume and remove runs.

    reg = open_registry()
    run = launch_run(reg, LaunchRequest(kind="finetune", task="demo", dataset="demo"))
    final = follow_run(reg, run.id, on_update=print)        # until a final state
    stop_run(reg, run.id, grace_s=30); kill_run(reg, run.id); resume_run(reg, run.id)

`launch_run` resolves the config once (preset < file < env < --set < flags), writes it to
RUN_DIR/config.yaml, creates the Run row and starts the detached supervisor
(clpbert.runs.supervisor), which does everything else. Every run, `clpbert demo` included,
goes through this one function.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clpbert import paths
from clpbert.errors import NotFoundError, UserError
from clpbert.runs import control, procs
from clpbert.runs.gpu_spec import GpuRequest, parse_gpu_spec
from clpbert.runs.job_link import node_of_job
from clpbert.runs.launch import SlurmOptions, Topology, is_slurm_run, slurm_script, supervisor_command
from clpbert.runs.lifecycle import ACTIVE, FINAL, RESUMABLE, RunState
from clpbert.runs.run_dir import LAUNCH_FILE, RunDir
from clpbert.runs.run_dirs import write_run_file
from clpbert.runs.scheduler import request_of_run_dir, request_to_dict

if TYPE_CHECKING:
    from clpbert.registry import Registry

DEMO_DATASET = "demo"

_children: list[subprocess.Popen[bytes]] = []


@dataclass
class LaunchRequest:
    """Everything `clpbert run` takes; None = not given on the command line."""

    kind: str
    task: str
    dataset: str | None = None
    init: str | None = None
    gpus: str | None = None
    config_file: str | None = None
    sets: Sequence[str] = ()
    name: str = ""
    tags: Sequence[str] = ()
    notes: str = ""
    topology: Topology = field(default_factory=Topology)
    slurm: SlurmOptions | None = None
    submit: bool = False
    min_video_coverage: float = 0.5
    """Refuse the launch when fewer of a split's records have their video (0: no check)."""


def _reap() -> None:
    """Collect exited supervisors started by this process (no zombies in long-lived callers)."""
    _children[:] = [p for p in _children if p.poll() is None]


# ------------------------------------------------------------------------------------------
# Datasets the launcher may prepare itself
# ------------------------------------------------------------------------------------------


def ensure_demo_dataset(reg: Registry, *, seed: int = 0, n_train: int | None = None, n_val: int | None = None,
                        name: str = DEMO_DATASET) -> Any:
    """Generate (or reuse, same parameters) the synthetic demo dataset and register it.

    n_train/n_val count videos (None: the generator's defaults, which the demo preset is tuned for).
    """
    from clpbert.data.demo import generate_demo_dataset

    sizes = {k: v for k, v in (("n_train", n_train), ("n_val", n_val)) if v is not None}
    out = generate_demo_dataset(paths.dataset_dir(name), seed=seed, **sizes)
    return register_dataset_dir(reg, name, out)


def register_dataset_dir(reg: Registry, name: str, out: Path) -> Any:
    """Register a dataset directory laid out as txt_db/, vis_db/, tokenizer/ (TEAM.md)."""
    meta: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        meta = json.loads((out / "txt_db" / "meta.json").read_text())
    return reg.add_dataset(name, format=str(meta.get("format", "")), task=str(meta.get("task", "")),
                           txt_db=str(out / "txt_db"), vis_db=str(out / "vis_db"),
                           tokenizer=str(out / "tokenizer") if (out / "tokenizer").exists() else "",
                           splits=meta.get("splits") or {},
                           fingerprint=json.dumps(meta.get("params", {}), sort_keys=True))


def _check_dataset(reg: Registry, cfg: Any) -> None:
    name = cfg.data.dataset
    if not name:
        if not cfg.data.txt_db:
            raise UserError(f"task {cfg.task.name} needs data: give --dataset NAME (see `clpbert datasets "
                            "list`) or --set data.txt_db=... data.vis_db=...")
        return
    try:
        reg.get_dataset(name)
    except NotFoundError:
        if name == DEMO_DATASET:
            ensure_demo_dataset(reg)
            return
        known = ", ".join(d.name for d in reg.list_datasets()) or "none registered yet"
        raise UserError(f"unknown dataset {name!r} (known: {known}); prepare it with `clpbert datasets "
                        "prepare` or pick one from `clpbert datasets list`") from None


# ------------------------------------------------------------------------------------------
# Launch
# ------------------------------------------------------------------------------------------


def resolve_request_config(req: LaunchRequest, environ: dict[str, str] | None = None) -> Any:
    from clpbert.config import resolve_config

    flags = {"kind": req.kind, "data.dataset": req.dataset, "runtime.init_checkpoint": req.init}
    return resolve_config(req.task, req.config_file, req.sets, environ, flags)


def gpu_request(spec: str | None) -> GpuRequest:
    """Parse --gpus against what NVML (or the fake backend) sees now."""
    if not (spec or "").strip() or spec.strip().lower() == "cpu":  # type: ignore[union-attr]
        return GpuRequest()
    from clpbert.gpu.nvml import gpu_snapshot

    return parse_gpu_spec(spec, gpu_snapshot())


def check_request(reg: Registry, req: LaunchRequest, environ: dict[str, str] | None = None
                  ) -> tuple[Any, GpuRequest]:
    """Everything a launch checks before it writes anything: (the resolved config, the GPU request).

    Raises UserError for a bad config, dataset or --gpus.
    """
    from clpbert.runs.init_weights import check_init_weights
    from clpbert.runs.labels import check_name_and_tags

    check_name_and_tags(req.name, req.tags)
    cfg = resolve_request_config(req, environ)
    _check_dataset(reg, cfg)
    gpus = gpu_request(req.gpus)
    if gpus.cpu:
        if cfg.runtime.device == "cuda":
            raise UserError("runtime.device=cuda needs GPUs: add --gpus (e.g. --gpus 0 or --gpus auto:1)")
        cfg.runtime.device = "cpu"
    from clpbert.config import preset
    from clpbert.train.steps import adapt_global_batch

    adapt_global_batch(cfg, request_world_size(req, gpus), preset(cfg.task.name))
    from clpbert.train.init_source import check_init

    check_init(cfg, reg)  # names the fix for an unregistered preset init (`download`, `--init none`)
    check_init_weights(reg, cfg)  # then every file the trainer will load must load
    from clpbert.runs.data_coverage import check_video_coverage

    check_video_coverage(reg, cfg, req.min_video_coverage)
    return cfg, gpus


def request_world_size(req: LaunchRequest, gpus: GpuRequest) -> int:
    """Trainer processes of a launch: one per GPU (one for a CPU run) on each node."""
    if req.slurm is not None:
        return max(1, req.slurm.gpus_per_node) * req.slurm.nnodes
    return max(1, gpus.count) * req.topology.nnodes


def launch_run(reg: Registry, req: LaunchRequest, environ: dict[str, str] | None = None,
               start: bool = True, checked: tuple[Any, GpuRequest] | None = None) -> Any:
    """Resolve the config, create the run (dir + row), start its supervisor; returns the Run.

    Raises UserError (nothing written) for a bad config, dataset or --gpus. `checked`: what
    `check_request(reg, req, environ)` returned already (a sweep checks every point first).
    """
    from clpbert.config import save_config
    from clpbert.runs.pinned_paths import pin_paths

    cfg, gpus = checked if checked is not None else check_request(reg, req, environ)
    pin_paths(reg, cfg)  # config.yaml carries paths: the trainer never resolves a name
    if req.slurm is not None:
        return _launch_slurm(reg, req, cfg)
    run_id = secrets.token_hex(4)
    rd = RunDir(paths.run_dir(run_id)).create()
    run_dir = rd.path
    save_config(cfg, rd.config)
    _write_launch(run_dir, gpus, req.topology, resume=False)
    run = reg.create_run(req.kind, cfg.task.name, dataset=cfg.data.dataset,
                         name=req.name or f"{cfg.task.name}-{run_id}", config=cfg.to_dict(),
                         tags=list(req.tags), notes=req.notes, run_dir=run_dir,
                         gpus=[g.to_dict() for g in gpus.gpus], nnodes=req.topology.nnodes,
                         state=RunState.QUEUED, run_id=run_id, total_steps=cfg.optim.max_steps or None,
                         **node_of_job(run_id, req.topology))
    write_run_file(run)
    if gpus.notes:
        reg.update_run(run.id, reason="; ".join(gpus.notes))
    if start:
        start_supervisor(reg, run.id)
    return reg.get_run(run.id)


def _write_launch(run_dir: Path, gpus: GpuRequest, topology: Topology, resume: bool) -> None:
    data = {"gpu_request": request_to_dict(gpus), "topology": topology.to_dict(), "resume": resume,
            "created": time.time()}
    RunDir(run_dir).write_json(LAUNCH_FILE, data, indent=1)


def start_supervisor(reg: Registry, run_id: str) -> int:
    """Start the detached supervisor (own session, stdin /dev/null, output to its log); record
    its pid and create time at once, so reconcile can judge the run from the first moment."""
    _reap()
    run = reg.get_run(run_id)
    rd = RunDir(run.run_dir).create()
    run_dir = rd.path
    env = dict(os.environ)
    env["CLPBERT_HOME"] = str(paths.home())
    env.setdefault("CLPBERT_DB_URL", paths.db_url())
    with rd.supervisor_log.open("ab") as out:
        proc = subprocess.Popen(supervisor_command(run.id), stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, cwd=run_dir, env=env, start_new_session=True,
                                close_fds=True)
    _children.append(proc)
    ident = procs.ProcessId.of(proc.pid)
    if ident is not None:
        # Compare-and-set style: only if the supervisor has not already written its own identity.
        current = reg.get_run(run.id)
        if current.supervisor_pid != ident.pid:
            reg.update_run(run.id, supervisor_pid=ident.pid, supervisor_create_time=ident.create_time)
    return proc.pid


def _launch_slurm(reg: Registry, req: LaunchRequest, cfg: Any) -> Any:
    """Write (and with --submit, sbatch) a script running the same torchrun on every node."""
    from clpbert.config import save_config

    assert req.slurm is not None
    run_id = secrets.token_hex(4)
    rd = RunDir(paths.run_dir(run_id)).create()
    run_dir = rd.path
    save_config(cfg, rd.config)
    name = req.name or f"{cfg.task.name}-{run_id}"
    script = rd.slurm_script
    script.write_text(slurm_script(run_id, name, run_dir, rd.config, req.slurm))
    script.chmod(0o755)
    reason = f"Slurm script written: submit it with `sbatch {script}`"
    host = "slurm"
    if req.submit:
        sbatch = shutil.which("sbatch")
        if sbatch is None:
            raise UserError(f"--submit: sbatch not found on PATH; the script is at {script}")
        res = subprocess.run([sbatch, "--parsable", str(script)], capture_output=True, text=True)
        if res.returncode != 0:
            err = res.stderr.strip()
            last = err.splitlines()[-1] if err else f"exit code {res.returncode}"
            raise UserError(f"sbatch failed: {last} (the script is at {script})")
        job = res.stdout.strip().split(";")[0]
        reason, host = f"submitted as Slurm job {job}", f"slurm:{job}"
    run = reg.create_run(req.kind, cfg.task.name, dataset=cfg.data.dataset, name=name, config=cfg.to_dict(),
                         tags=list(req.tags), notes=req.notes, run_dir=run_dir, nnodes=req.slurm.nnodes,
                         state=RunState.QUEUED, run_id=run_id, host=host,
                         total_steps=cfg.optim.max_steps or None)
    write_run_file(run)
    reg.update_run(run.id, reason=reason)
    return reg.get_run(run.id)


# ------------------------------------------------------------------------------------------
# Watching
# ------------------------------------------------------------------------------------------


@dataclass
class Progress:
    run: Any
    eval: Any | None


def follow_run(reg: Registry, run_id: str, on_update: Callable[[Progress], None] | None = None,
               poll_s: float = 0.5, timeout_s: float | None = None) -> Any:
    """Poll until the run reaches a final state (calling on_update on each change); the Run.

    Runs reconcile on the way, so a supervisor that died is reported as `lost`, not waited on.
    """
    from clpbert.runs.reconcile import reconcile_run

    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    last: tuple[Any, ...] | None = None
    last_check = 0.0
    while True:
        _reap()
        run = reg.get_run(run_id)
        ev = reg.latest_eval(run.id)
        key = (run.state, run.step, run.latest_loss, ev.id if ev else None, run.reason)
        if key != last and on_update is not None:
            on_update(Progress(run, ev))
        last = key
        if str(run.state) in FINAL:
            return run
        if time.monotonic() - last_check > 2.0:
            last_check = time.monotonic()
            if reconcile_run(reg, run):
                continue
        if deadline is not None and time.monotonic() > deadline:
            return run
        time.sleep(poll_s)


def wait_for_state(reg: Registry, run_id: str, states: Sequence[str], timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        run = reg.get_run(run_id)
        if str(run.state) in states or time.monotonic() > deadline:
            return run
        time.sleep(0.2)


# ------------------------------------------------------------------------------------------
# Stop, kill, resume, remove
# ------------------------------------------------------------------------------------------


def _supervisor(run: Any) -> procs.ProcessId | None:
    if run.supervisor_pid is None or run.supervisor_create_time is None:
        return None
    ident = procs.ProcessId(run.supervisor_pid, run.supervisor_create_time)
    return ident if ident.alive() else None


def _require_active(run: Any, verb: str) -> None:
    if str(run.state) in FINAL:
        raise UserError(f"run {run.id} is already {run.state}; nothing to {verb}")
    if is_slurm_run(run):
        raise UserError(f"run {run.id} runs under Slurm ({run.reason}); use scancel")


def _kill_trainer_tree(run: Any, sup: procs.ProcessId | None) -> None:
    """SIGKILL every process of the run except the supervisor (which records the outcome)."""
    victims = procs.descendants(sup.pid) if sup else []
    trainer = procs.recorded(Path(run.run_dir), "trainer")
    tp = trainer.process() if trainer else None
    if tp is not None:
        victims += [tp, *procs.descendants(tp.pid)]
        procs.signal_group(tp.pid, signal.SIGKILL)
    procs.signal_processes(victims, signal.SIGKILL)


def stop_run(reg: Registry, ref: str, grace_s: float = control.DEFAULT_GRACE_S, wait: bool = True) -> Any:
    """SIGTERM (trainer checkpoints at a step boundary), then SIGKILL after grace_s; -> killed."""
    run = reg.get_run(ref)
    _require_active(run, "stop")
    control.write_request(Path(run.run_dir), "stop", grace_s)
    sup = _supervisor(run)
    if sup is None:
        return _finish_orphan(reg, run, "stopped by user; its supervisor was already gone")
    os.kill(sup.pid, signal.SIGTERM)
    if not wait:
        return reg.get_run(run.id)
    final = wait_for_state(reg, run.id, FINAL, grace_s + 20.0)
    if str(final.state) not in FINAL:  # the supervisor is stuck: do its job
        _kill_trainer_tree(run, sup)
        with contextlib.suppress(ProcessLookupError):
            os.kill(sup.pid, signal.SIGKILL)
        final = _finish_orphan(reg, run, "stopped by user; the supervisor did not respond and was killed")
    return final


def kill_run(reg: Registry, ref: str, wait: bool = True) -> Any:
    """SIGKILL the run's processes at once; the supervisor records `killed`."""
    run = reg.get_run(ref)
    _require_active(run, "kill")
    control.write_request(Path(run.run_dir), "kill", 0)
    sup = _supervisor(run)
    if sup is not None:
        os.kill(sup.pid, signal.SIGTERM)  # first, so it knows the coming SIGKILLs were asked for
    _kill_trainer_tree(run, sup)
    if sup is None:
        return _finish_orphan(reg, run, "killed by user; its supervisor was already gone")
    if not wait:
        return reg.get_run(run.id)
    final = wait_for_state(reg, run.id, FINAL, 15.0)
    if str(final.state) not in FINAL:
        with contextlib.suppress(ProcessLookupError):
            os.kill(sup.pid, signal.SIGKILL)
        final = _finish_orphan(reg, run, "killed by user; the supervisor did not respond and was killed")
    return final


def _finish_orphan(reg: Registry, run: Any, reason: str) -> Any:
    """Record `killed` for a run whose supervisor is gone (nobody else will)."""
    _kill_trainer_tree(run, None)
    reg.release_gpus(run.id)
    reg.set_run_state(run.id, RunState.KILLED, reason=reason, only_from=ACTIVE)
    with contextlib.suppress(NotFoundError):
        attempts = reg.list_attempts(run.id)
        if attempts and attempts[-1].ended is None:
            reg.end_attempt(run.id, RunState.KILLED, number=attempts[-1].number, reason=reason)
    return reg.get_run(run.id)


def latest_checkpoint(run_dir: Path) -> Path | None:
    return RunDir(run_dir).latest_checkpoint()


def resume_run(reg: Registry, ref: str, gpus: str | None = None) -> Any:
    """A new attempt of the same run from its last checkpoint (`clpbert.train --resume`)."""
    run = reg.get_run(ref)
    if str(run.state) in ACTIVE:
        raise UserError(f"run {run.id} is {run.state}; stop it first (`clpbert runs stop {run.id}`)")
    if run.state == RunState.FINISHED:
        raise UserError(f"run {run.id} already finished; start a new run with --init {run.id} to train more")
    if is_slurm_run(run):
        raise UserError(f"run {run.id} ran under Slurm and cannot be resumed from here; start a new run "
                        f"with --init {run.id} (its best checkpoint), with --slurm again")
    run_dir = Path(run.run_dir)
    if latest_checkpoint(run_dir) is None:
        raise UserError(f"run {run.id} has no checkpoint to resume from (it stopped before the first "
                        "one); start it again with `clpbert run`")
    request = gpu_request(gpus) if gpus is not None else (request_of_run_dir(run_dir) or GpuRequest())
    from clpbert.runs.attempt_guard import end_previous_attempt

    end_previous_attempt(run_dir, run.id)  # a trainer of the last attempt still alive: gone first
    old_topology = (RunDir(run_dir).read_json(LAUNCH_FILE) or {}).get("topology") or {}
    # Order matters for a concurrent reconcile: a fresh launch.json, then no supervisor while the run
    # is still final (ignored), then `queued` (a queued run without a supervisor is given a minute).
    _write_launch(run_dir, request, Topology(**old_topology), resume=True)
    reg.update_run(run.id, supervisor_pid=None, supervisor_create_time=None,
                   gpus=[g.to_dict() for g in request.gpus])
    if not reg.set_run_state(run.id, RunState.QUEUED, reason="resuming from the last checkpoint",
                             only_from=RESUMABLE):
        raise UserError(f"run {run.id} changed state meanwhile; try again")
    start_supervisor(reg, run.id)
    return reg.get_run(run.id)


def remove_run(reg: Registry, ref: str, force: bool = False) -> Any:
    """Delete the run's rows and its run dir; refuses an active run unless force (then kills it)."""
    run = reg.get_run(ref)
    if str(run.state) in ACTIVE and not is_slurm_run(run):
        if not force:
            raise UserError(f"run {run.id} is {run.state}; stop it first or pass --force")
        kill_run(reg, run.id)
    for ck in reg.list_checkpoints(run_id=run.id):
        if Path(ck.path).is_relative_to(Path(run.run_dir)):
            reg.remove_checkpoint(ck.id)
    reg.release_gpus(run.id)
    reg.delete_run(run.id)
    if run.run_dir and Path(run.run_dir).is_relative_to(paths.runs_dir()):
        shutil.rmtree(run.run_dir, ignore_errors=True)
    return run
