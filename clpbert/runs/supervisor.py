"""The supervisor: one detached process per run, the run's only writer in the registry.

    python -m clpbert.runs.supervisor RUN_ID      (started by clpbert.runs.service.start_supervisor)

It runs in its own session with stdout/stderr in RUN_DIR/logs/supervisor.log, records its pid and
create time in the Run row (reconcile compares both), and then, single-threaded, in one loop:

1. waits for its GPUs while `queued` (clpbert.runs.scheduler: ledger + NVML, FIFO);
2. starts torchrun (`starting`) in a new process group with CUDA_VISIBLE_DEVICES and
   CUDA_DEVICE_ORDER=PCI_BUS_ID, output to RUN_DIR/logs/train.log; a new Attempt row;
3. tails events.jsonl into the registry every 0.2 s (`running` once the trainer's start event
   arrives) and samples NVML at 1 Hz into GpuSample rows for its GPUs;
4. on a stop request (SIGTERM + RUN_DIR/control.json) goes `stopping`: SIGTERM to torchrun's
   group (torchrun forwards it; the trainer checkpoints at a step boundary), SIGKILL to the whole
   tree after the grace period; a kill request SIGKILLs the tree at once;
5. when torchrun exits, kills any leftover descendant, ingests the last events, and records exit
   code, signal, reason and the final state (finished | failed | killed), releasing its GPUs;
6. compacts its run's GPU samples older than a day (clpbert.registry.retention) and runs the
   registry-wide retention pass if one is due: after the outcome, so nobody waits for it (while the
   trainer runs, it offers that pass every RETENTION_EVERY_S in slices of RETENTION_SLICE_S).

It is a Linux child subreaper, so workers torchrun started in their own sessions stay its
descendants even if torchrun dies; torchrun gets SIGTERM if the supervisor itself dies (PDEATHSIG).
A supervisor killed with SIGKILL is noticed by reconcile (state `lost`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import traceback
from typing import Any

from clpbert.runs import control, procs
from clpbert.runs.gpu_spec import GpuRef, GpuRequest
from clpbert.runs.ingest import Ingestor
from clpbert.runs.launch import Topology, nproc_per_node, trainer_command, trainer_env
from clpbert.runs.lifecycle import ACTIVE, RunState
from clpbert.runs.outcome import Outcome, decide
from clpbert.runs.run_dir import RunDir
from clpbert.runs.scheduler import request_from_dict, try_acquire

POLL_S = 0.2
SAMPLE_EVERY_S = 1.0
RETENTION_EVERY_S = 60.0
"""How often a running supervisor offers a time-sliced retention pass (week-long runs included)."""
RETENTION_SLICE_S = 0.05
QUEUE_POLL_S = 1.0


def log(msg: str) -> None:
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} supervisor[{os.getpid()}] {msg}", flush=True)


class Supervisor:
    def __init__(self, run_id: str):
        from clpbert.registry import open_registry

        self.reg = open_registry()
        self.run = self.reg.get_run(run_id)
        self.run_id = self.run.id
        self.dir = RunDir(self.run.run_dir)
        self.run_dir = self.dir.path
        launch = json.loads(self.dir.launch_file.read_text())
        self.request: GpuRequest = request_from_dict(launch.get("gpu_request") or {})
        self.topology = Topology(**(launch.get("topology") or {}))
        self.resume = bool(launch.get("resume"))
        self.launched_at = float(launch.get("created") or time.time())
        self.gpus: list[GpuRef] = []
        self.proc: subprocess.Popen[bytes] | None = None
        self.signalled: int | None = None
        self.stop_action: str | None = None
        self.grace_s = control.DEFAULT_GRACE_S
        self.kill_deadline: float | None = None
        self.killed_after_grace: float | None = None
        self.attempt: int | None = None
        self._monitor: Any = None
        self._tree: list[Any] = []
        self._tree_sampler: Any = None
        self._last_reason: str | None = None
        self._said_device_level = False

    # ---------------------------------------------------------------- entry

    def main(self) -> int:
        me = procs.ProcessId.of(os.getpid())
        assert me is not None
        self.reg.update_run(self.run_id, supervisor_pid=me.pid, supervisor_create_time=me.create_time)
        procs.write_processes(self.run_dir, supervisor=me, trainer=None)
        procs.become_subreaper()
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        log(f"run {self.run_id}: gpus={self.request.describe()} resume={self.resume}")
        outcome: Outcome | None = None
        try:
            if self._wait_for_gpus():
                self._start_trainer()
                self._watch()
            outcome = self._finish()
        except BaseException as e:  # a supervisor bug must still leave a final state behind
            log("supervisor error:\n" + traceback.format_exc())
            self._kill_everything()
            outcome = Outcome(RunState.FAILED, f"supervisor error: {type(e).__name__}: {e}"[:500])
        finally:
            self._record(outcome)
            self._compact_gpu_samples()
        return 0

    def _on_signal(self, signum: int, _frame: Any) -> None:
        self.signalled = signum
        req = control.read_request(self.run_dir, since=self.launched_at)
        if req is not None:
            self.stop_action, self.grace_s = req.action, req.grace_s
        elif self.stop_action is None:
            self.stop_action = "stop"

    # ---------------------------------------------------------------- queue

    def _set_state(self, state: str, reason: str | None = None, only_from: tuple[str, ...] = ()) -> bool:
        ok = self.reg.set_run_state(self.run_id, state, reason=reason, only_from=only_from or None)
        if ok:
            log(f"state {state}" + (f": {reason}" if reason else ""))
        return ok

    def monitor(self) -> Any:
        if self._monitor is None:
            from clpbert.gpu.nvml import GpuMonitor

            self._monitor = GpuMonitor()
        return self._monitor

    def _wait_for_gpus(self) -> bool:
        """True when the run may start (GPUs reserved, or a CPU run); False if stopped first."""
        if self.request.cpu:
            self._set_state(RunState.STARTING, only_from=(RunState.QUEUED, RunState.STARTING))
            return self.stop_action is None
        self._set_state(RunState.QUEUED, "waiting for GPUs", only_from=(RunState.QUEUED, RunState.STARTING))
        while self.stop_action is None:
            decision = try_acquire(self.reg, self.reg.get_run(self.run_id), self.request,
                                   self.monitor().snapshot())
            if decision.gpus is not None:
                self.gpus = decision.gpus
                self.reg.update_run(self.run_id, gpus=[g.to_dict() for g in self.gpus])
                self._set_state(RunState.STARTING, only_from=(RunState.QUEUED,))
                return self.stop_action is None
            reason = f"waiting for {decision.waiting_for}"
            if reason != self._last_reason:
                self.reg.update_run(self.run_id, reason=reason)
                self._last_reason = reason
                log(reason)
            time.sleep(QUEUE_POLL_S)
        return False

    # ---------------------------------------------------------------- trainer

    def _start_trainer(self) -> None:
        config = self.dir.config
        argv = trainer_command(config, nproc_per_node(self.gpus), self.topology, resume=self.resume)
        resumed_from = self._latest_checkpoint() if self.resume else None
        attempt = self.reg.start_attempt(self.run_id, resumed_from=resumed_from)
        self.attempt = attempt.number
        env = trainer_env(os.environ, self.gpus, self.run_id, attempt.number)
        if self.topology.multi_node:
            from clpbert.train.events import EVENTS_PER_NODE_ENV

            env[EVENTS_PER_NODE_ENV] = "1"
        self.dir.create()
        log(f"attempt {attempt.number}: {' '.join(argv)}")
        with self.dir.train_log.open("ab") as out:
            out.write(f"\n=== attempt {attempt.number} {time.strftime('%Y-%m-%d %H:%M:%S')}: "
                      f"{' '.join(argv)}\n".encode())
            out.flush()
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                         env=env, cwd=self.run_dir, start_new_session=True,
                                         preexec_fn=procs.die_with_parent)
        trainer = procs.ProcessId.of(self.proc.pid)
        procs.write_processes(self.run_dir, trainer=trainer)

    def _latest_checkpoint(self) -> str | None:
        path = self.dir.latest_target()
        return None if path is None else str(path)

    def _watch(self) -> None:
        assert self.proc is not None
        cfg_metric, kind = self._config_facts()
        self.ingestor = Ingestor(self.reg, self.run_id, self.run_dir, metric=cfg_metric, kind=kind)
        running = False
        next_sample = 0.0
        next_retention = 0.0  # at once (one indexed read when no pass is due), then every minute
        while True:
            self.ingestor.poll()
            if not running and self.ingestor.summary.started:
                running = self._set_state(RunState.RUNNING, only_from=(RunState.STARTING,))
            if self.stop_action and self.kill_deadline is None:
                self._begin_stop()
            now = time.monotonic()
            overdue = self.kill_deadline is not None and now >= self.kill_deadline
            if overdue and self.killed_after_grace is None:
                log(f"grace period of {self.grace_s:g} s over: SIGKILL")
                self.killed_after_grace = self.grace_s
                self._kill_everything()
            if now >= next_sample:
                next_sample = now + SAMPLE_EVERY_S
                self._tree = procs.descendants(os.getpid())
                self._sample_gpus()
                self._sample_tree()
            if now >= next_retention:
                next_retention = now + RETENTION_EVERY_S
                self._retention_slice()
            if self.proc.poll() is not None:
                break
            time.sleep(POLL_S)

    def _config_facts(self) -> tuple[str | None, str]:
        try:
            from clpbert.config import load_config

            cfg = load_config(self.dir.config)
            return (cfg.eval.metric or None), cfg.kind
        except Exception:
            return None, self.run.kind

    def _begin_stop(self) -> None:
        assert self.proc is not None
        self._set_state(RunState.STOPPING, f"{self.stop_action} requested",
                        only_from=(RunState.STARTING, RunState.RUNNING))
        if self.stop_action == "kill":
            self.kill_deadline = time.monotonic()
            self._kill_everything()
            return
        log(f"SIGTERM to trainer group {self.proc.pid}; grace {self.grace_s:g} s")
        procs.signal_group(self.proc.pid, signal.SIGTERM)
        self.kill_deadline = time.monotonic() + self.grace_s

    def _kill_everything(self) -> None:
        """SIGKILL torchrun's group and every descendant of this supervisor."""
        extra = procs.descendants(os.getpid()) + self._tree
        if self.proc is not None:
            procs.kill_tree(self.proc.pid, extra=extra)
        else:
            procs.signal_processes(extra, signal.SIGKILL)

    def _sample_tree(self) -> None:
        """CPU %, RSS and read rate of every process under this supervisor (the process_samples table)."""
        from clpbert.registry import process_samples
        from clpbert.runs.tree_sampler import TreeSampler

        if self._tree_sampler is None:
            self._tree_sampler = TreeSampler(self.run_id)
        sample = self._tree_sampler.sample(self._tree)
        if sample is not None:
            try:
                process_samples.add(self.reg, [sample])
            except Exception:  # a busy registry loses one reading, never the run
                log("process sample not stored:\n" + traceback.format_exc(limit=1))

    def _sample_gpus(self) -> None:
        if not self.gpus:
            return
        from clpbert.gpu.attribution import run_usage
        from clpbert.gpu.readings import gpu_key, sample_values

        snap = self.monitor().snapshot()
        if snap.driver is None:
            return
        pids = {p.pid for p in self._tree}
        samples = []
        for u in run_usage(snap, [g.uuid or g.index for g in self.gpus], pids):
            g = u.gpu
            if u.reason and not self._said_device_level:
                log(f"GPU {g.index}: {u.reason}")
                self._said_device_level = True
            samples.append({**sample_values(g), "run_id": self.run_id, "gpu_uuid": gpu_key(g.uuid, g.index),
                            "gpu_index": g.index, "time": snap.time,
                            "mem_used": u.memory_used_mib})  # the run's own share of the GPU's memory
        if samples:
            self.reg.add_gpu_samples(samples)

    # ---------------------------------------------------------------- the end

    def _finish(self) -> Outcome:
        if self.proc is None:  # stopped while queued (or before the trainer started)
            return decide(None, None, self.stop_action or "stop")
        rc = self.proc.wait()
        if self.stop_action is None:  # a kill whose signal raced the trainer's death
            req = control.read_request(self.run_dir, since=self.launched_at)
            self.stop_action = req.action if req is not None else None
        leftovers = procs.descendants(os.getpid())
        if leftovers:
            log(f"killing {len(leftovers)} leftover process(es): {[p.pid for p in leftovers]}")
            procs.signal_processes(leftovers, signal.SIGKILL)
            procs.wait_gone(leftovers, timeout=5)
        procs.reap_children()
        for _ in range(3):  # the last events may land just after the exit
            if not self.ingestor.poll():
                break
        procs.write_processes(self.run_dir, trainer=None)
        return decide(rc, self.ingestor.summary.finish, self.stop_action, self.killed_after_grace,
                      self.dir.train_log)

    def _record(self, outcome: Outcome | None) -> None:
        outcome = outcome or Outcome(RunState.FAILED, "supervisor ended without an outcome")
        try:
            self.reg.release_gpus(self.run_id)
            if self.attempt is not None:
                self.reg.end_attempt(self.run_id, outcome.state, number=self.attempt,
                                     exit_code=outcome.exit_code, signal=outcome.signal,
                                     reason=outcome.reason)
            done = self.reg.set_run_state(self.run_id, outcome.state, reason=outcome.reason,
                                          exit_code=outcome.exit_code, signal=outcome.signal,
                                          only_from=ACTIVE)
            log(f"state {outcome.state}" + (f": {outcome.reason}" if outcome.reason else "") if done else
                f"outcome {outcome.state} not recorded: the run already left its active states")
        except Exception:
            log("could not record the outcome:\n" + traceback.format_exc())
        finally:
            if self._monitor is not None:
                self._monitor.close()

    def _retention_slice(self) -> None:
        """While the run trains: a registry-wide retention pass if one is due, cut into slices of
        RETENTION_SLICE_S so event tailing and 1 Hz sampling never wait (one indexed read when not
        due). Keeps a long run's own samples compacted behind their 24 h window as it goes."""
        from clpbert.registry import retention

        try:
            retention.maybe_compact(self.reg, budget_s=RETENTION_SLICE_S)
        except Exception:
            log("GPU sample compaction failed:\n" + traceback.format_exc())

    def _compact_gpu_samples(self) -> None:
        """GPU sample retention (clpbert.registry.retention) once the outcome is recorded and the GPUs
        are free: this run's samples older than a day become 1-minute buckets, then the registry-wide
        pass if one is due. No time budget: nobody waits for a supervisor to exit."""
        from clpbert.registry import retention

        try:
            own = retention.compact_run(self.reg, self.run_id)
            every = retention.maybe_compact(self.reg)
            from clpbert.registry import process_samples

            process_samples.prune_ended(self.reg, time.time())
            for what, st in (("this run's", own), ("the registry's", every)):
                if st is not None and (st.removed or st.expired):
                    log(f"compacted {what} GPU samples: {st.removed} into {st.written} rows, "
                        f"{st.expired} expired, {st.seconds:.1f} s")
        except Exception:
            log("GPU sample compaction failed:\n" + traceback.format_exc())


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m clpbert.runs.supervisor RUN_ID", file=sys.stderr)
        return 2
    return Supervisor(args[0]).main()


if __name__ == "__main__":
    sys.exit(main())
