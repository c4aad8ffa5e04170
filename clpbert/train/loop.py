"""The training loop: one process per GPU (or CPU), driven by a resolved RunConfig.

Order of a run: join the process group -> resolve data -> build datasets, model, optimiser ->
resume from RUN_DIR/checkpoints/latest.json if there is one -> steps (summed grad accumulation, clipping,
per-group lr schedule) -> evaluate every valid_steps and at the end -> checkpoint after every
evaluation (best.pt by the task metric) -> the test split once, on best.pt -> finish event.
Model selection never sees the test split: with data.test_split set, only data.val_split is
evaluated while training.

Stopping: SIGTERM/SIGINT set a flag that every rank checks at the next step boundary (all ranks
agree through one all-reduce), then a checkpoint is written and the finish event says
`stopped`. runtime.time_limit_s ends training the same way, but evaluates first and finishes
`finished`. Test hook: CLPBERT_TEST_STOP_AT_STEP=k acts like SIGTERM once step k is done.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from clpbert.config import RunConfig
from clpbert.runs.lifecycle import TrainerStatus
from clpbert.task_specs import spec_of
from clpbert.train import checkpoint as ckpt
from clpbert.train import distributed
from clpbert.train import optim as optim_mod
from clpbert.train import steps as steps_mod
from clpbert.train.data import DataSource, EpochOrder, eval_loader, resolve_sources, train_loader
from clpbert.train.events import EVENTS_PER_NODE_ENV, EventWriter, previous_attempts
from clpbert.train.job_announce import announce_job
from clpbert.train.step_timing import StepTimer, attach_comm_timer
from clpbert.train.tasks import EvalContext, Task, lower_is_better
from clpbert.train.tasks.base import to_device

log = logging.getLogger("clpbert.train")


class StopRequest:
    """Set by SIGTERM/SIGINT; checked between steps."""

    def __init__(self) -> None:
        self.signal_name: str | None = None

    def install(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(ValueError):  # not the main thread (tests): no handler
                signal.signal(sig, self._handler)

    def _handler(self, signum: int, frame: Any) -> None:
        self.signal_name = signal.Signals(signum).name

    @property
    def requested(self) -> bool:
        return self.signal_name is not None


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


class TrainSource:
    """One training dataset with its endless loader and its (epoch, batch) position."""

    def __init__(self, name: str, dataset: Any, order: EpochOrder, epoch: int, pos: int, cfg: RunConfig,
                 device: torch.device):
        self.name, self.dataset, self.order = name, dataset, order
        self.epoch, self.pos = epoch, pos
        self.cfg, self.device = cfg, device
        self._it = None
        self.wait_s = 0.0
        """Seconds blocked waiting for batches (the step timing's data wait reads and resets it)."""

    def next(self) -> dict[str, Any]:
        t0 = time.perf_counter()
        try:
            return self._next()
        finally:
            self.wait_s += time.perf_counter() - t0

    def _next(self) -> dict[str, Any]:
        if self._it is None:
            loader = train_loader(self.dataset, self.order, self.epoch, self.pos, self.cfg, self.device)
            self._it = iter(loader)
        batch = next(self._it)
        self.pos += 1
        if self.pos >= self.order.batches_per_epoch:
            self.epoch, self.pos = self.epoch + 1, 0
        return batch


class Trainer:
    def __init__(self, cfg: RunConfig, run_dir: Path, resume: bool | None = None):
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.resume = resume
        self.stop = StopRequest()
        self.dist = distributed.init_distributed(cfg.runtime.device, cfg.runtime.num_threads)
        # Multi-node under the manager, each node is its own run with its own run dir: the node's local
        # rank 0 records the (all-reduced, identical) progress there too, so every node's run follows it.
        per_node = os.environ.get(EVENTS_PER_NODE_ENV) == "1" and self.dist.local_rank == 0
        self.events = EventWriter(self.run_dir, enabled=self.dist.is_main or per_node)
        self.step = 0
        self.task: Task = spec_of(cfg.task.name).train_task()
        self.best: dict[str, Any] | None = None
        self.last_metrics: dict[str, float] | None = None
        self.skipped = 0
        self.timing = StepTimer(self.dist.device)
        self.overflows = 0
        self.examples = 0
        """Training videos asked for so far (used + skipped): the denominator of skipped_frac."""

    # ------------------------------------------------------------------------------------------
    # setup
    # ------------------------------------------------------------------------------------------

    def _autocast(self) -> contextlib.AbstractContextManager:
        from clpbert.model import autocast_context

        return autocast_context(self.dist.device, self.cfg.runtime.precision)

    def _build_data(self) -> None:
        from clpbert.data.datasets import build_dataset
        from clpbert.data.tokenizer import load_tokenizer

        cfg = self.cfg
        self.sources: list[DataSource] = resolve_sources(cfg)
        self.tokenizer = load_tokenizer(self.sources[0].tokenizer)
        self.train_sets: list[tuple[str, Any]] = []
        train = self.task.trainable and cfg.kind != "eval"
        if train:
            for src in self.sources:
                same = src.tokenizer == self.sources[0].tokenizer
                tok = self.tokenizer if same else load_tokenizer(src.tokenizer)
                ds = build_dataset(cfg, cfg.data.train_split, True, tok, src.txt_db, src.vis_db)
                self.train_sets.append((src.name, ds))
        src = self.sources[0]
        self.eval_sets: dict[str, Any] = {}
        from clpbert.data.txt_db import TxtDB

        have = TxtDB(src.txt_db).splits()
        for split in dict.fromkeys(s for s in (cfg.data.val_split, cfg.data.test_split) if s):
            if split == cfg.data.test_split and split != cfg.data.val_split and split not in have:
                if self.dist.is_main:  # the preset names a test split this dataset does not have
                    log.info("no %r split in %s: no test evaluation", split, src.txt_db)
                continue
            self.eval_sets[split] = build_dataset(cfg, split, False, self.tokenizer, src.txt_db, src.vis_db)

    def _num_labels(self) -> int | None:
        for _, ds in self.train_sets:
            if hasattr(ds, "num_labels"):
                return int(ds.num_labels)
        for ds in self.eval_sets.values():
            if hasattr(ds, "num_labels"):
                return int(ds.num_labels)
        return None

    def _build_model(self) -> None:
        from clpbert.model import build_model, initialize, make_grad_scaler, maybe_compile

        cfg, device = self.cfg, self.dist.device
        seed_everything(cfg.runtime.seed)  # same initial weights on every rank
        model = build_model(cfg.model, cfg.task, num_labels=self._num_labels())
        rt = cfg.runtime
        from clpbert.train.init_source import resolve_paths

        for report in initialize(model, **resolve_paths(cfg)):
            if self.dist.is_main:
                log.info("loaded weights: %s", report)
        if cfg.optim.freeze_cnn:
            model.freeze_cnn()
        model.to(device)
        if rt.channels_last:
            model.to_channels_last()
        self.model: nn.Module = model  # plain module (state dicts, evaluation)
        self.optimizer = optim_mod.build_optimizer(model, cfg.optim, device) if self.train_sets else None
        self.scaler = make_grad_scaler(device, rt.precision)
        groups = self.optimizer.param_groups if self.optimizer else []
        self.params = [p for g in groups for p in g["params"]]
        train_model: nn.Module = maybe_compile(model, rt.compile)
        if self.dist.enabled and self.train_sets:
            ddp_kw = {"device_ids": [device.index]} if device.type == "cuda" else {}
            train_model = nn.parallel.DistributedDataParallel(train_model, **ddp_kw)
            attach_comm_timer(train_model, self.timing)
        self.train_model = train_model
        # per-rank streams for dropout etc.; data randomness is seeded per item (train/data.py)
        seed_everything(cfg.runtime.seed + 7919 * self.dist.rank)

    def _plan(self) -> None:
        cfg, d = self.cfg, self.cfg.data
        world, rank = self.dist.world_size, self.dist.rank
        self.orders = [EpochOrder(len(ds), d.batch_size, world, rank, cfg.runtime.seed + i)
                       for i, (_, ds) in enumerate(self.train_sets)]
        if not self.train_sets:
            self.total_steps = 0
            self.valid_every = 0
            return
        # the original's formula (train/steps.py): ceil(epochs x training groups / global batch)
        groups = sum(len(ds) for _, ds in self.train_sets)
        self.total_steps = steps_mod.total_steps(groups, cfg, world)
        e = cfg.eval
        self.valid_every = optim_mod.valid_steps(self.total_steps, e.num_valid, e.min_valid_steps,
                                                 e.valid_steps)

    def _metric_name(self) -> str:
        return self.cfg.eval.metric or self.task.default_metric

    # ------------------------------------------------------------------------------------------
    # checkpoints
    # ------------------------------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        rng = distributed.all_gather_object(ckpt.rng_state())
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict() if self.optimizer else None,
            "scaler": self.scaler.state_dict(),
            "epoch": self.sources_state[0]["epoch"] if self.sources_state else 0,
            "data_pos": self.sources_state,
            "rng": rng,
            "config": self.cfg.to_dict(),
            "task": self.cfg.task.name,
            "metric": self.last_metrics,
            "best_metric": self.best,
            "total_steps": self.total_steps,
            "world_size": self.dist.world_size,
            "label_names": self._label_names(),
        }

    def _label_names(self) -> list[str] | None:
        """QA answers by label id (the dataset's ans2label), so `clpbert predict` needs no dataset."""
        from clpbert.data.txt_db import label_names

        for ds in [*(d for _, d in self.train_sets), *self.eval_sets.values()]:
            a2l = getattr(ds, "ans2label", None)
            if a2l:
                return label_names(a2l)
        return None

    @property
    def sources_state(self) -> list[dict[str, Any]]:
        return [{"name": s.name, "epoch": s.epoch, "pos": s.pos} for s in getattr(self, "train_sources", [])]

    def save(self, is_best: bool = False) -> None:
        state = self._state()  # collective: every rank takes part
        if self.dist.is_main:
            path = ckpt.save_checkpoint(self.run_dir, self.step, state)
            metric = None
            if self.last_metrics is not None and self._metric_name() in self.last_metrics:
                metric = {"name": self._metric_name(), "value": self.last_metrics[self._metric_name()]}
            if is_best:
                ckpt.mark_best(self.run_dir, path)
            ckpt.prune(self.run_dir, self.cfg.eval.keep_last)
            from clpbert.predictions import store

            store.prune(self.run_dir, self.cfg.eval.keep_last, [self.best["step"]] if self.best else [])
            self.events.checkpoint(self.step, f"{ckpt.CKPT_DIR}/{path.name}", is_best, metric)
        distributed.barrier()

    def _restore(self) -> tuple[list[dict[str, Any]], bool]:
        """Load the latest checkpoint if resuming; returns (data positions, resumed)."""
        want = self.cfg.runtime.resume if self.resume is None else self.resume
        if self.dist.is_main:  # a previous attempt killed mid-write left its temp file
            for p in ckpt.remove_stale_temps(self.run_dir):
                log.info("removed %s, left by an interrupted checkpoint write", p.name)
        if not want or not self.train_sets:
            return [], False
        found = ckpt.load_latest(self.run_dir, map_location="cpu") if self.dist.is_main else None
        # rank 0 decides, so every rank resumes from the same file (RUN_DIR must be shared across nodes)
        name = distributed.broadcast_object(found[0].name if found else None)
        if name is None:
            return [], False
        if found is None:
            path = self.run_dir / ckpt.CKPT_DIR / name
            if not path.is_file():
                from clpbert.errors import UserError

                raise UserError(f"rank {self.dist.rank} cannot see {path}; the run directory must be on a "
                                "filesystem shared by all nodes to resume")
            found = (path, ckpt.load_file(path))
        path, state = found
        self.model.load_state_dict(state["model"])
        if self.optimizer is not None and state.get("optimizer"):
            self.optimizer.load_state_dict(state["optimizer"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.step = int(state["step"])
        self.best = state.get("best_metric")
        self.last_metrics = state.get("metric")
        rngs = state.get("rng") or []
        if self.dist.rank < len(rngs) and state.get("world_size") == self.dist.world_size:
            ckpt.set_rng_state(rngs[self.dist.rank])
        if self.dist.is_main:
            log.info("resumed from %s at step %d", path, self.step)
        return list(state.get("data_pos") or []), True

    # ------------------------------------------------------------------------------------------
    # evaluation
    # ------------------------------------------------------------------------------------------

    def selection_splits(self) -> list[str] | None:
        """Splits evaluated while training: the validation split alone when the run also has a test
        split (model selection never sees test), else every eval split (None)."""
        d = self.cfg.data
        if self.train_sets and d.test_split and d.test_split != d.val_split and d.val_split in self.eval_sets:
            return [d.val_split]
        return None

    def evaluate(self, splits: list[str] | None = None, extra: dict[str, float] | None = None,
                 select: bool = True) -> dict[str, float] | None:
        """Evaluate `splits` (None: every eval split); the first one's metrics are returned and, with
        `select`, become the metrics that pick best.pt."""
        names = list(self.eval_sets) if splits is None else [s for s in splits if s in self.eval_sets]
        if not names:
            return None
        self.model.eval()
        ctx = EvalContext(model=self.model, cfg=self.cfg, device=self.dist.device, dist=self.dist,
                          autocast=self._autocast,
                          make_loader=lambda ds, bs: eval_loader(ds, bs, self.cfg, self.dist.device,
                                                                 self.dist.world_size, self.dist.rank),
                          save_predictions=self.cfg.eval.save_predictions)
        first = None
        try:
            for split in names:
                t0 = time.time()
                ctx.predictions = None
                m = self.task.evaluate(ctx, self.eval_sets[split])
                m["eval_s"] = time.time() - t0
                m.update(extra or {})
                saved = self._save_predictions(split, ctx.predictions)
                self.events.eval(self.step, split, m, predictions=saved)
                if self.dist.is_main:
                    log.info("eval %s step %d: %s", split, self.step,
                             " ".join(f"{k}={v:.4g}" for k, v in m.items() if isinstance(v, float)))
                first = m if first is None else first
        finally:
            self.model.train()
        if select:
            self.last_metrics = first
        return first

    def _save_predictions(self, split: str, preds: Any) -> dict[str, Any] | None:
        """Rank 0 writes the evaluation's prediction rows (predictions/store.py); the eval event
        carries the file, so the registry indexes it."""
        if preds is None or not self.dist.is_main:
            return None
        from clpbert.predictions import store

        t0 = time.time()
        path = store.write_predictions(self.run_dir, self.step, split, preds.kind, preds.rows,
                                       task=self.cfg.task.name, expected=preds.expected)
        return {"path": str(path), "kind": preds.kind, "rows": len(preds.rows), "write_s": time.time() - t0}

    def test_on_best(self) -> dict[str, float] | None:
        """The test split, once, on the checkpoint chosen on validation (best.pt; the final weights
        when no evaluation chose one). Its eval event carries `selected_step`; nothing is selected."""
        test = self.cfg.data.test_split
        if self.selection_splits() is None or test not in self.eval_sets:
            return None
        best = self.run_dir / ckpt.CKPT_DIR / ckpt.BEST
        selected = self.step
        if best.is_file():
            state = ckpt.load_file(best, map_location="cpu")
            self.model.load_state_dict(state["model"])
            selected = int(state["step"])
        if self.dist.is_main:
            log.info("testing %s on the checkpoint of step %d (chosen on %s)", test, selected,
                     self.cfg.data.val_split)
        return self.evaluate([test], extra={"selected_step": float(selected)}, select=False)

    def _is_better(self, metrics: dict[str, float] | None) -> bool:
        name = self._metric_name()
        if not metrics or name not in metrics or metrics[name] is None:
            return False
        value = float(metrics[name])
        if self.best is None:
            better = True
        else:
            better = value < self.best["value"] if lower_is_better(name) else value > self.best["value"]
        if better:
            self.best = {"name": name, "value": value, "step": self.step}
        return better

    # ------------------------------------------------------------------------------------------
    # training
    # ------------------------------------------------------------------------------------------

    def _pick_source(self) -> TrainSource:
        """Pretraining mixes sources 50/50 per step; seeded by (seed, step): equal on all ranks."""
        if len(self.train_sources) == 1:
            return self.train_sources[0]
        r = random.Random(self.cfg.runtime.seed * 1_000_003 + self.step)
        return self.train_sources[r.randrange(len(self.train_sources))]

    def _micro_step(self, batch: dict[str, Any], sync: bool) -> tuple[float, dict[str, float]]:
        timed = self.timing.start("fwd_bwd")
        model = self.train_model
        no_sync = model.no_sync() if (not sync and isinstance(model, nn.parallel.DistributedDataParallel)) \
            else contextlib.nullcontext()
        with no_sync:
            if batch["frames"].shape[0] == 0:  # every video of this batch was skipped: keep ranks in step
                loss = sum(p.sum() for p in self.params) * 0.0
                parts: dict[str, float] = {}
            else:
                with self._autocast():
                    out = self.task.loss(model, batch, self.cfg)
                loss, parts = out.loss, out.parts
            # the original sums micro-batch gradients (no division by grad_accum), then clips at
            # optim.grad_norm: the clipping threshold applies to the sum
            self.scaler.scale(loss).backward()
        timed()
        return float(loss.detach()), parts

    def train_step(self) -> dict[str, float]:
        cfg = self.cfg
        source = self._pick_source()
        losses, parts_sum, videos, skipped = [], {}, 0, 0
        for micro in range(cfg.optim.grad_accum):
            raw = source.next()
            skipped += int(raw.get("n_skipped", 0))
            batch = to_device(raw, self.dist.device)
            videos += self.task.videos_in(batch)
            loss, parts = self._micro_step(batch, sync=micro == cfg.optim.grad_accum - 1)
            losses.append(loss)
            for k, v in parts.items():
                parts_sum[k] = parts_sum.get(k, 0.0) + v
        self.skipped += skipped
        self.examples += skipped + videos
        if not distributed.any_flag(videos > 0, self.dist.device):  # no rank had a usable example
            from clpbert.errors import UserError

            raise UserError(f"step {self.step + 1}: no usable training example ({skipped} video(s) of this "
                            f"step missing or undecodable, {self.skipped} of {self.examples} so far); "
                            "check the data with `clpbert datasets verify`")
        timed = self.timing.start("optimizer")
        self.scaler.unscale_(self.optimizer)
        max_norm = cfg.optim.grad_norm if cfg.optim.grad_norm > 0 else float("inf")
        grad_norm = float(torch.nn.utils.clip_grad_norm_(self.params, max_norm))
        lrs = optim_mod.apply_lr(self.optimizer, self.step + 1, self.total_steps, cfg.optim)
        from clpbert.model.precision import scaled_step

        skipped = scaled_step(self.scaler, self.optimizer)
        if skipped:
            self.overflows += 1
            if self.dist.is_main:
                log.info("gradient overflow at step %d: step skipped, loss scale now %g", self.step + 1,
                         self.scaler.get_scale())
        self.optimizer.zero_grad(set_to_none=True)
        timed()
        self.step += 1
        n = len(losses)
        out = {"loss": sum(losses) / n, "lr": lrs.lr, "lr_cnn": lrs.lr_cnn, "grad_norm": grad_norm,
               "videos": float(videos)}
        out.update({f"loss/{k}": v / n for k, v in parts_sum.items()})
        if self.scaler.is_enabled():  # fp16: the dynamic loss scale and the overflow-skipped steps so far
            out.update(loss_scale=float(self.scaler.get_scale()), overflow_steps=float(self.overflows))
        return out

    def _timed_step(self) -> dict[str, float]:
        """train_step plus where its time went (clpbert.train.step_timing)."""
        t0 = time.perf_counter()
        metrics = self.train_step()
        for source in self.train_sources:
            self.timing.add("data", source.wait_s)
            source.wait_s = 0.0
        return {**metrics, **self.timing.take(time.perf_counter() - t0)}

    def _log(self, window: list[dict[str, float]], t0: float) -> None:
        keys = sorted({k for m in window for k in m})
        mean = {k: sum(m.get(k, 0.0) for m in window) / len(window) for k in keys}
        mean["skipped"] = float(self.skipped)
        mean["examples"] = float(self.examples)
        mean = distributed.all_reduce_mean(mean, self.dist.device)
        world = self.dist.world_size
        elapsed = max(time.time() - t0, 1e-9)
        metrics = {k: v for k, v in mean.items() if k not in ("videos", "skipped", "examples")}
        metrics["lr"], metrics["lr_cnn"] = window[-1]["lr"], window[-1]["lr_cnn"]
        metrics["videos_per_s"] = mean["videos"] * world * len(window) / elapsed
        metrics["skipped_videos"] = round(mean["skipped"] * world)
        metrics["skipped_frac"] = mean["skipped"] / mean["examples"] if mean["examples"] else 0.0
        epoch = self.train_sources[0].epoch if self.train_sources else 0
        self.events.train(self.step, epoch, metrics)
        if self.dist.is_main:
            log.info("step %d/%d epoch %d loss %.4f lr %.3g grad %.3g %.1f videos/s", self.step,
                     self.total_steps, epoch, metrics["loss"], metrics["lr"], metrics["grad_norm"],
                     metrics["videos_per_s"])

    def run(self) -> str:
        """Train/evaluate; returns the finish status (finished|stopped)."""
        self.stop.install()
        announce_job(self.dist, self.events)
        self._build_data()
        self._build_model()
        self._plan()
        positions, resumed = self._restore()
        by_name = {p.get("name"): p for p in positions}
        self.train_sources = []
        for i, ((name, ds), order) in enumerate(zip(self.train_sets, self.orders, strict=True)):
            pos = by_name.get(name) or (positions[i] if i < len(positions) else {"epoch": 0, "pos": 0})
            self.train_sources.append(TrainSource(name, ds, order, int(pos["epoch"]), int(pos["pos"]),
                                                  self.cfg, self.dist.device))
        attempt = int(os.environ.get("CLPBERT_ATTEMPT") or 0) or (previous_attempts(self.run_dir) + 1)
        self.events.start(self.step, self.dist.world_size, self.total_steps, self.cfg.task.name, attempt)
        if self.dist.is_main:
            log.info("task %s: %d steps, eval every %d, world %d, device %s%s", self.cfg.task.name,
                     self.total_steps, self.valid_every, self.dist.world_size, self.dist.device,
                     f", resumed at step {self.step}" if resumed else "")
        if not self.train_sets:  # evaluation-only run
            self.evaluate()
            return TrainerStatus.FINISHED
        return self._train_loop()

    def _train_loop(self) -> str:
        cfg = self.cfg
        self.train_model.train()
        start = time.time()
        stop_at = int(os.environ.get("CLPBERT_TEST_STOP_AT_STEP") or 0)
        window: list[dict[str, float]] = []
        t_window = time.time()
        saved_at = evaluated_at = -1
        status = TrainerStatus.FINISHED
        while self.step < self.total_steps:
            window.append(self._timed_step())
            if self.step % max(cfg.runtime.log_every, 1) == 0 or self.step == self.total_steps:
                self._log(window, t_window)
                window, t_window = [], time.time()
            if self.step % self.valid_every == 0 and self.step < self.total_steps:
                self.save(is_best=self._is_better(self.evaluate(self.selection_splits())))
                saved_at = evaluated_at = self.step
            elif cfg.runtime.checkpoint_every and self.step % cfg.runtime.checkpoint_every == 0:
                self.save()
                saved_at = self.step
            signalled = self.stop.requested or (stop_at > 0 and self.step >= stop_at)
            timed_out = cfg.runtime.time_limit_s > 0 and time.time() - start > cfg.runtime.time_limit_s
            if distributed.any_flag(signalled, self.dist.device):
                if window:
                    self._log(window, t_window)
                if saved_at != self.step:
                    self.save()
                return "stopped"
            if distributed.any_flag(timed_out, self.dist.device):
                if self.dist.is_main:
                    log.info("time limit of %.0f s reached at step %d", cfg.runtime.time_limit_s, self.step)
                status = "time_limit"
                break
        if window:
            self._log(window, t_window)
        # the last step is evaluated even when a periodic save just wrote it (the save then repeats, so
        # the step file carries the final metric and best.pt can point at it)
        if cfg.eval.eval_at_end and evaluated_at != self.step:
            self.save(is_best=self._is_better(self.evaluate(self.selection_splits())))
        elif saved_at != self.step:
            self.save()
        if cfg.eval.eval_at_end:
            self.test_on_best()
        return status


def resolve_init_checkpoint(ref: str) -> str:
    """runtime.init_checkpoint: a file, a run dir, a registered checkpoint name, or a run id (a run's
    best, else latest checkpoint when the trainer starts)."""
    p = Path(ref).expanduser()
    if p.is_dir() and (p / ckpt.CKPT_DIR).is_dir():
        return _run_checkpoint(p, ref)
    if p.exists():
        return str(p)
    from clpbert.errors import NotFoundError

    try:
        from clpbert.registry import open_registry

        with open_registry() as reg:
            try:
                return reg.get_checkpoint(ref).path
            except NotFoundError:
                run = reg.get_run(ref)
        run_dir = Path(run.run_dir)
    except NotFoundError:
        raise NotFoundError(f"runtime.init_checkpoint={ref!r} is not a file, a registered checkpoint "
                            "or a run; `clpbert ckpts list` shows checkpoints") from None
    return _run_checkpoint(run_dir, ref)


def _run_checkpoint(run_dir: Path, ref: str) -> str:
    """A run's best.pt, else its latest checkpoint."""
    from clpbert.errors import NotFoundError

    best = run_dir / ckpt.CKPT_DIR / ckpt.BEST
    latest = ckpt.latest_path(run_dir)
    if best.is_file():
        return str(best)
    if latest is not None:
        return str(latest)
    raise NotFoundError(f"run {ref!r} has no checkpoint yet ({run_dir / ckpt.CKPT_DIR})")
