"""`clpbert run pretrain|finetune|eval`: resolve the config, create the run, start its supervisor.

Module top imports only typer (and the stdlib); the engine is imported inside the command.
Live progress and tables go to stderr, data (--json) to stdout.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Annotated, Any

import typer

from clpbert.app.runs import RunState

HELP = """Start a run: pretrain, finetune or eval (KIND) of a task.

The config is resolved once (task preset < --config file < CLPBERT_<SECTION>__<KEY> env <
--set < --dataset/--init) and written to the run directory; a detached supervisor then waits for
the GPUs, starts torchrun and records everything in the registry. Without --gpus the run uses
the CPU. --gpus takes indices or UUIDs (0,1 / GPU-8a3c...) or auto:N; busy GPUs make the run
wait as `queued`, in order. --follow shows live progress and exits 0 only if the run finished.

Multi-node: run the same command on each node with --nnodes N --node-rank R --rdzv-endpoint
HOST:PORT (torchrun's rendezvous). --slurm writes RUN_DIR/job.sbatch instead (srun on each
node); --submit also submits it with sbatch.

Sweeps: --sweep KEY=V1,V2 (repeatable: every combination) starts one run per point, all tagged
sweep-<id>; `clpbert runs compare --tag sweep-<id>` compares them. Runs asking for the same GPUs
queue behind each other; --gpus auto:1 spreads them over free GPUs.
"""

KINDS = ("pretrain", "finetune", "eval")


def _eval_rows(metrics: dict[str, Any]) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """Metrics like acc, acc/color, t2v/r1 -> (columns, rows): `acc/color` is row `color`,
    column `acc` (when `acc` itself exists); `t2v/r1` is row `t2v`, column `r1`."""
    tops = {k for k in metrics if "/" not in k}
    rows: dict[str, dict[str, Any]] = {}
    cols: list[str] = []
    for key, value in metrics.items():
        if "/" not in key:
            row, col = "overall", key
        else:
            a, b = key.split("/", 1)
            row, col = (b, a) if a in tops else (a, b)
        rows.setdefault(row, {})[col] = value
        if col not in cols:
            cols.append(col)
    return cols, rows


def _is_aux(key: str) -> bool:
    """Bookkeeping numbers of an eval (example count, seconds), not scores."""
    return key in ("n", "selected_step") or key.endswith("_s")


def eval_table(ev: Any, title: str | None = None) -> Any:
    """A rich Table of one Eval row: one line per question type / direction."""
    from rich.table import Table

    cols, rows = _eval_rows({k: v for k, v in ev.metrics.items() if not _is_aux(k)})
    extra = []
    if isinstance(ev.metrics.get("n"), (int, float)):
        extra.append(f"{int(ev.metrics['n'])} examples")
    if isinstance(ev.metrics.get("eval_s"), (int, float)):
        extra.append(f"{ev.metrics['eval_s']:.1f} s")
    if isinstance(ev.metrics.get("selected_step"), (int, float)):
        extra.append(f"on the checkpoint of step {int(ev.metrics['selected_step'])}, chosen on validation")
    title = (title or f"{ev.split} @ step {ev.step}") + (f" ({', '.join(extra)})" if extra else "")
    table = Table(title=title, title_justify="left")
    table.add_column("")
    for c in cols:
        table.add_column(c, justify="right")
    order = ["overall", *sorted(r for r in rows if r != "overall")]
    for r in order:
        if r in rows:
            table.add_row(r, *[_fmt(rows[r].get(c)) for c in cols])
    return table


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


class ProgressPrinter:
    """Live step/total, loss and latest eval on stderr: a rich bar on a terminal, plain lines
    otherwise (logs, CI)."""

    def __init__(self, quiet: bool = False):
        from rich.console import Console

        self.console = Console(stderr=True, soft_wrap=True)
        self.quiet = quiet
        self.live = self.console.is_terminal and not quiet
        self._progress: Any = None
        self._task: Any = None
        self._last_line = 0.0
        self._last_state: str | None = None
        self._last_eval: int | None = None

    def __enter__(self) -> ProgressPrinter:
        if self.live:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
                                      console=self.console, transient=False)
            self._progress.start()
            self._task = self._progress.add_task(str(RunState.QUEUED), total=None, info="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def update(self, p: Any) -> None:
        run, ev = p.run, p.eval
        state = str(run.state)
        acc = ""
        if ev is not None:
            key = run.best_metric_name if run.best_metric_name in ev.metrics else next(iter(ev.metrics), None)
            if key is not None and isinstance(ev.metrics.get(key), (int, float)):
                acc = f"{ev.split} {key} {ev.metrics[key]:.3f}"
        loss = f"loss {run.latest_loss:.4f}" if run.latest_loss is not None else ""
        info = "  ".join(x for x in (loss, acc) if x)
        if self.quiet:
            return
        if self._progress is not None:
            self._progress.update(self._task, description=state, total=run.total_steps, completed=run.step,
                                  info=info)
            return
        now = time.monotonic()
        new_eval = ev is not None and ev.id != self._last_eval
        if state != self._last_state or new_eval or now - self._last_line > 5.0:
            total = f"/{run.total_steps}" if run.total_steps else ""
            why = f" ({run.reason})" if run.reason and state != RunState.RUNNING else ""
            line = f"[{state}] step {run.step}{total}  {info}{why}"
            self.console.print(line, highlight=False, markup=False)
            self._last_line, self._last_state = now, state
            self._last_eval = ev.id if ev is not None else None


def follow_and_report(reg: Any, run_id: str, quiet: bool = False) -> Any:
    """Follow a run to its end with live progress, then print the final eval table (stderr)."""
    from clpbert.app.runs import follow_run

    with ProgressPrinter(quiet) as printer:
        try:
            final = follow_run(reg, run_id, on_update=printer.update)
        except KeyboardInterrupt:
            sys.stderr.write(f"\nrun {run_id} goes on in the background: `clpbert runs logs {run_id} -f` "
                             f"follows it, `clpbert runs stop {run_id}` stops it\n")
            raise typer.Exit(130) from None
    if not quiet:
        ev = reg.latest_eval(final.id)
        if ev is not None:
            table = eval_table(ev, f"{final.name or final.id}: {ev.split} @ step {ev.step}")
            printer.console.print(table.title, highlight=False, markup=False)
            table.title = None
            printer.console.print(table)
        msg = f"run {final.id} {final.state}" + (f": {final.reason}" if final.reason else "")
        style = "green" if final.state == RunState.FINISHED else "red"
        printer.console.print(msg, style=style, highlight=False)
    return final


def run_json(reg: Any, run: Any) -> dict[str, Any]:
    """The run as JSON, with its latest eval (what --json prints; clpbert.app.run_detail)."""
    from clpbert.app.run_detail import run_outcome

    return run_outcome(reg, run)


def run(
    kind: Annotated[str, typer.Argument(help="pretrain | finetune | eval", show_default=False)],
    task: Annotated[str | None, typer.Option("--task", "-t", help="Task preset (e.g. msrvtt_qa, demo); "
                                             "`clpbert config show --task NAME` prints one, an "
                                             "unknown NAME lists them all.")] = None,
    dataset: Annotated[str | None, typer.Option("--dataset", "-d", help="Registered dataset name "
                                                "(data.dataset).")] = None,
    init: Annotated[str | None, typer.Option("--init", help="Initial weights: file, checkpoint name or "
                                             "run id (runtime.init_checkpoint).")] = None,
    gpus: Annotated[str | None, typer.Option("--gpus", help="GPU indices/UUIDs (0,1) or auto:N; default: "
                                             "CPU.")] = None,
    config: Annotated[str | None, typer.Option("--config", "-c", help="YAML config file.")] = None,
    sets: Annotated[list[str] | None, typer.Option("--set", "-s", help="Override KEY=VALUE (repeatable).")]
    = None,
    sweep: Annotated[list[str] | None, typer.Option("--sweep", help="KEY=V1,V2,...: one run per value "
                                                    "(repeatable: every combination).")] = None,
    name: Annotated[str, typer.Option("--name", help="Run name (default: <task>-<id>).")] = "",
    tags: Annotated[list[str] | None, typer.Option("--tag", help="Tag (repeatable).")] = None,
    nnodes: Annotated[int, typer.Option("--nnodes", min=1, help="Nodes taking part (torchrun).")] = 1,
    node_rank: Annotated[int, typer.Option("--node-rank", min=0, help="This node's rank.")] = 0,
    rdzv_endpoint: Annotated[str | None, typer.Option("--rdzv-endpoint", help="HOST:PORT of node 0's "
                                                      "rendezvous.")] = None,
    slurm: Annotated[bool, typer.Option("--slurm", help="Write an sbatch script instead of running here.")]
    = False,
    submit: Annotated[bool, typer.Option("--submit", help="With --slurm: submit it with sbatch.")] = False,
    gpus_per_node: Annotated[int, typer.Option("--gpus-per-node", min=0, help="With --slurm.")] = 8,
    partition: Annotated[str | None, typer.Option("--partition", help="With --slurm.")] = None,
    time_limit: Annotated[str | None, typer.Option("--time", help="With --slurm: sbatch --time.")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Show live progress until the run ends.")]
    = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the created (with --follow: final) run as "
                                          "JSON.")] = False,
    min_video_coverage: Annotated[float, typer.Option(
        "--min-video-coverage", min=0.0, max=1.0, help="Refuse the launch when fewer of a split's records "
        "have their video in the vis_db (0 turns the check off).")] = 0.5,
) -> None:
    from clpbert.app.registry import open_registry
    from clpbert.app.runs import LaunchRequest, SlurmOptions, Topology, launch_run, reconcile
    from clpbert.errors import UserError

    if kind not in KINDS:
        raise UserError(f"unknown run kind {kind!r}; use one of: {', '.join(KINDS)}")
    if task is None:
        if kind != "pretrain":
            raise UserError(f"`clpbert run {kind}` needs --task (e.g. --task msrvtt_qa or --task demo)")
        task = "pretrain"
    if submit and not slurm:
        raise UserError("--submit goes with --slurm")
    topology = Topology(nnodes=1, node_rank=0) if slurm else \
        Topology(nnodes=nnodes, node_rank=node_rank, rdzv_endpoint=rdzv_endpoint)
    slurm_opts = SlurmOptions(nnodes=nnodes, gpus_per_node=gpus_per_node, partition=partition,
                              time_limit=time_limit) if slurm else None
    req = LaunchRequest(kind=kind, task=task, dataset=dataset, init=init, gpus=None if slurm else gpus,
                        config_file=config, sets=sets or [], name=name, tags=tags or [], topology=topology,
                        slurm=slurm_opts, submit=submit, min_video_coverage=min_video_coverage)
    if sweep:
        _run_sweep(req, sweep, follow, as_json)
        return
    with open_registry() as reg:
        reconcile(reg)
        created = launch_run(reg, req)
        _print_plan(req, created)
        if slurm or not follow:
            if as_json:
                print(json.dumps(run_json(reg, created)))
            else:
                where = created.reason if slurm else f"logs: clpbert runs logs {created.id} -f"
                sys.stderr.write(f"run {created.id} ({created.name}) {created.state}; {where}\n")
            return
        final = follow_and_report(reg, created.id, quiet=as_json)
        if as_json:
            print(json.dumps(run_json(reg, final)))
        if final.state != RunState.FINISHED:
            raise typer.Exit(1)


def _print_plan(req: Any, created: Any) -> None:
    """The global batch and step arithmetic of the run (stderr), as the trainer will use it."""
    from clpbert.app.runs import gpu_request, launch_summary, request_world_size
    from clpbert.config import from_dict

    world = request_world_size(req, gpu_request(req.gpus))
    for line in launch_summary(from_dict(created.config), world):
        sys.stderr.write(line + "\n")


def _run_sweep(req: Any, sweep: list[str], follow: bool, as_json: bool) -> None:
    """One run per point of the grid (clpbert.runs.sweep); prints them and how to compare them."""
    from cli.output import print_table
    from clpbert.app.registry import open_registry
    from clpbert.app.runs import launch_sweep, parse_sweep, reconcile
    from clpbert.errors import UserError

    if follow:
        raise UserError("--follow follows one run; watch a sweep with `clpbert tui` or "
                        "`clpbert runs list --tag`")
    axes = parse_sweep(sweep, req.sets)
    with open_registry() as reg:
        reconcile(reg)
        tag, runs = launch_sweep(reg, req, axes)
        if as_json:
            print(json.dumps({"tag": tag, "runs": [run_json(reg, r) for r in runs]}))
            return
    print_table(["ID", "NAME", "STATE"], [(r.id, r.name, str(r.state)) for r in runs], title=f"sweep {tag}")
    sys.stderr.write(f"{len(runs)} runs tagged {tag}; compare them: clpbert runs compare --tag {tag}\n")


def register(app: typer.Typer) -> None:
    """Add the command to the main app (called by cli/app.py)."""
    app.command("run", help=HELP)(run)
