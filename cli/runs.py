"""`clpbert runs list|show`: the experiments in the registry.

Layout for additions (logs, stop, kill, resume, rm, compare, export): write a `@group.command(...)`
function in this file (or a module with `register(group)` appended to EXTENSIONS); use
`RunArg` for the run id argument, `JsonFlag` for --json, `run_summary(run)` / `run_detail(reg, run)`
(clpbert.app.run_detail) for the dicts that --json prints.
"""

import importlib
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.common import JsonFlag, open_reader
from clpbert.app.run_detail import run_detail, run_summary

if TYPE_CHECKING:
    from clpbert.app.registry import Run

EXTENSIONS: list[str] = ["cli.runs_manage", "cli.runs_identity", "cli.runs_predictions"]

group = typer.Typer(help="Runs: list, inspect (and manage) experiments.", no_args_is_help=True)

RunArg = Annotated[str, typer.Argument(help="Run id, a unique id prefix, or a unique run name.")]
STATES = "queued, starting, running, stopping, finished, failed, killed, lost"


def _job_table(job: dict[str, Any]) -> None:
    """Every node of a multi-node job, this run marked, and what is not known here."""
    import sys

    from cli.output import print_table

    rows = [(f"{n['node_rank']}" + (" (this run)" if n["this_run"] else ""), n["run_id"] or "?",
             n["state"] or "unknown here", n["host"] or "-", "-" if n["step"] is None else n["step"])
            for n in job["nodes"]]
    print_table(["NODE", "RUN", "STATE", "HOST", "STEP"], rows,
                title=f"job {job['job_id'] or '?'}: {job['nnodes']} nodes")
    if job["note"]:
        sys.stdout.write(f"note: {job['note']}\n")


def _time_split(latest: dict[str, Any]) -> list[tuple[str, str]]:
    """`step time` and, when the run waits on its loader, the loader-bound verdict line."""
    from clpbert.app.runs import loader_verdict

    def value(name: str) -> float | None:
        return (latest.get(f"train/time/{name}") or {}).get("value")

    step, frac = value("step_s"), value("data_frac")
    if step is None:
        return []
    phases = (("data_s", "data wait"), ("fwd_bwd_s", "fwd+bwd"), ("optimizer_s", "optimizer"),
              ("comm_s", "comm"))
    parts = [f"{value(p) or 0.0:.3f} s {label}" for p, label in phases]
    out = [("step time", f"{step:.3f} s: " + ", ".join(parts))]
    verdict = loader_verdict(frac)
    return [*out, ("verdict", verdict)] if verdict else out


def _skipped(detail: dict[str, Any]) -> str:
    """Training videos skipped (missing or undecodable), as the trainer last reported them."""
    frac = (detail["latest_metrics"].get("train/skipped_frac") or {}).get("value")
    count = (detail["latest_metrics"].get("train/skipped_videos") or {}).get("value")
    if frac is None:
        return "-"
    return f"{frac:.1%} of training videos" + (f" ({int(count)})" if count is not None else "")


def _progress(run: "Run") -> str:
    return f"{run.step}/{run.total_steps}" if run.total_steps else str(run.step)


@group.command("list")
def list_cmd(
    state: Annotated[list[str] | None, typer.Option(help=f"Only runs in this state (repeatable): {STATES}.")]
    = None,
    task: Annotated[str | None, typer.Option(help="Only runs of this task.")] = None,
    search: Annotated[str | None, typer.Option(
        "--search", "-s", help="Text in the id, name, task, dataset, tags or notes.")] = None,
    tag: Annotated[str | None, typer.Option("--tag", help="Only runs with this tag.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many (newest first).")] = 50,
    all_: Annotated[bool, typer.Option("--all", "-a", help="Show every run (no limit).")] = False,
    json_: JsonFlag = False,
) -> None:
    """List runs, newest first."""
    from cli.output import diag, fmt_num, fmt_time, print_json, print_table
    from clpbert.app.run_list import runs_page

    with open_reader(reconciled=True) as reg:
        page = runs_page(reg, states=state or (), task=task, text=search, tag=tag,
                         limit=None if all_ else limit)
    if json_:
        print_json([run_summary(r) for r in page.runs])
        return
    from clpbert.app.job import is_node_run, job_label

    runs, total = page.grouped(), page.total
    jobs = any(is_node_run(r) for r in runs)  # a JOB column only when a multi-node job's run is listed
    rows = [(r.id, r.name or "-", r.kind, r.task, r.dataset or "-", r.state.value,
             *((job_label(r),) if jobs else ()), _progress(r),
             fmt_num(r.latest_loss), f"{r.best_metric_name}={fmt_num(r.best_metric_value)}"
             if r.best_metric_name else "-", fmt_time(r.created)) for r in runs]
    columns = ["ID", "NAME", "KIND", "TASK", "DATASET", "STATE", *(("JOB",) if jobs else ()), "STEP", "LOSS",
               "BEST", "CREATED"]
    print_table(columns, rows, empty="no runs (`clpbert run finetune --task ...` starts one)")
    if total > len(runs):
        diag(f"showing {len(runs)} of {total} runs (--all shows every run)")


@group.command("show")
def show_cmd(run_ref: RunArg, json_: JsonFlag = False) -> None:
    """Show one run: state, progress, attempts, latest metrics and the latest evaluation."""
    from cli.output import fmt_duration, fmt_num, fmt_time, print_fields, print_json, print_table
    from clpbert.app.runs import describe_init

    with open_reader(reconciled=True) as reg:
        run = reg.get_run(run_ref)
        detail = run_detail(reg, run)
    if json_:
        print_json(detail)
        return
    duration = ((run.ended or __import__("time").time()) - run.started) if run.started else None
    gpus = ", ".join(str(g.get("index")) for g in run.gpus) or "-"
    print_fields([
        ("id", run.id), ("name", run.name or "-"), ("kind", run.kind), ("task", run.task),
        ("dataset", run.dataset or "-"), ("init", describe_init(run.config or {})),
        ("state", run.state.value), ("reason", run.reason or "-"),
        ("exit", "-" if run.exit_code is None and run.signal is None
         else f"code {run.exit_code}" + (f", signal {run.signal}" if run.signal else "")),
        ("step", _progress(run)), ("loss", fmt_num(run.latest_loss)),
        ("skipped", _skipped(detail)),
        ("best", f"{run.best_metric_name}={fmt_num(run.best_metric_value)}" if run.best_metric_name else "-"),
        ("gpus", f"{gpus} on {run.host or '-'} x{run.nnodes} node(s)"),
        ("created", fmt_time(run.created)), ("started", fmt_time(run.started)),
        ("ended", fmt_time(run.ended)), ("duration", fmt_duration(duration)),
        ("attempts", len(detail["attempts"])), ("tags", ", ".join(map(str, run.tags)) or "-"),
        ("run dir", run.run_dir), ("notes", run.notes or "-"),
        *_time_split(detail["latest_metrics"]),
    ])
    if detail["job"] is not None:
        _job_table(detail["job"])
    # the latest evaluation of each split: validation (model selection) and test (on best.pt) apart
    for ev in {e["split"]: e for e in detail["evals"]}.values():
        chosen = ev["metrics"].get("selected_step")
        on = f" (checkpoint of step {int(chosen)}, chosen on validation)" if chosen is not None else ""
        print_table(["METRIC", "VALUE"], [(k, fmt_num(v)) for k, v in ev["metrics"].items()],
                    title=f"eval {ev['split']} @ step {ev['step']}{on}")


def register(app: typer.Typer) -> None:
    for module in EXTENSIONS:
        importlib.import_module(module).register(group)
    app.add_typer(group, name="runs")
