"""A multi-node job as the front-ends show it: `runs show` and the TUI's run detail list every node of
the job a node run belongs to, `runs list` and the TUI runs table label and group node runs by job.

The links come from the registry rows (clpbert.runs.job_link): rows of the job held in this registry
give each node's state, host and step; a node whose row is elsewhere (one SQLite registry per node)
is shown with the run id and host the rendezvous gave and `state` None, never a guess.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from clpbert.errors import NotFoundError

if TYPE_CHECKING:
    from clpbert.registry import Run

NOT_LINKED = "not linked yet: the nodes learn each other's run ids at the rendezvous"
ELSEWHERE = ("in another registry (each node records its run in the registry it launched with; one shared "
             "registry, e.g. PostgreSQL, shows every node's state)")


@dataclass(frozen=True)
class JobNode:
    node_rank: int
    run_id: str | None
    """None: not known here yet (before the rendezvous)."""
    host: str
    state: str | None
    """None: the node's row is not in this registry, so its state is unknown here."""
    step: int | None
    this_run: bool

    @property
    def in_registry(self) -> bool:
        return self.state is not None


@dataclass(frozen=True)
class JobView:
    job_id: str | None
    """Node 0's run id; None until this node has met the others at the rendezvous."""
    nnodes: int
    nodes: list[JobNode]

    @property
    def note(self) -> str | None:
        """What is not known here, and why (None when every node's row is in this registry)."""
        if self.job_id is None:
            return NOT_LINKED
        away = [n for n in self.nodes if n.run_id and not n.in_registry]
        if away:
            names = ", ".join(f"node {n.node_rank}'s run {n.run_id}" for n in away)
            return f"{names} {'is' if len(away) == 1 else 'are'} {ELSEWHERE}"
        if any(n.run_id is None for n in self.nodes):
            return NOT_LINKED
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"job_id": self.job_id, "nnodes": self.nnodes, "note": self.note,
                "nodes": [asdict(n) | {"in_registry": n.in_registry} for n in self.nodes]}


def is_node_run(run: Run) -> bool:
    """A node's part of a multi-node job launched with --node-rank (a Slurm run is one run for all nodes)."""
    return run.node_rank is not None


def job_label(run: Run) -> str:
    """The job column of `runs list` and the TUI: `<job id> n<rank>`, `? n<rank>` before the
    rendezvous, `-` for a one-node run."""
    if not is_node_run(run):
        return "-"
    return f"{run.job_id or '?'} n{run.node_rank}"


def job_of(reg: Any, run: Run) -> JobView | None:
    """Every node of `run`'s job, from this registry's rows and the rendezvous' record; None for a
    run that is not a node run."""
    if not is_node_run(run):
        return None
    rows = {r.node_rank: r for r in reg.list_job_runs(run.job_id)} if run.job_id else {}
    rows[run.node_rank] = run
    seen = {int(n["node_rank"]): n for n in run.job_nodes or []}
    for rank, entry in seen.items():  # a peer's row may be here before its own job event is ingested
        if rank not in rows:
            try:
                found = reg.get_run(entry["run_id"])
            except NotFoundError:
                continue
            if found.id == entry["run_id"]:
                rows[rank] = found
    nodes = []
    for rank in range(max(run.nnodes, len(seen), max(rows, default=0) + 1)):
        row, entry = rows.get(rank), seen.get(rank) or {}
        if row is not None:
            nodes.append(JobNode(rank, row.id, row.host, str(row.state), row.step, row.id == run.id))
        else:
            nodes.append(JobNode(rank, entry.get("run_id") or (run.job_id if rank == 0 else None),
                                 str(entry.get("host") or ""), None, None, False))
    return JobView(run.job_id, run.nnodes, nodes)


def job_line(view: JobView) -> str:
    """One line for the TUI's run detail: `job ID: node 0 ID running on HOST · node 1 ...`."""
    parts = []
    for n in view.nodes:
        who = "this run" if n.this_run else n.run_id or "?"
        where = f" on {n.host}" if n.host else ""
        parts.append(f"node {n.node_rank} {who} {n.state or 'state unknown here'}{where}")
    head = f"job {view.job_id or '?'} ({view.nnodes} nodes): " + " · ".join(parts)
    return head + (f"\n  {view.note}" if view.note else "")


def group_jobs(runs: Sequence[Run]) -> list[Run]:
    """`runs` in their order, except that the node runs of one job sit together, by node rank, where
    the job's first run is (a listing sorted by creation time may interleave other runs)."""
    jobs: dict[str, list[Run]] = {}
    for r in runs:
        if r.job_id:
            jobs.setdefault(r.job_id, []).append(r)
    out: list[Run] = []
    for r in runs:
        if not r.job_id:
            out.append(r)
        elif jobs.get(r.job_id):
            out.extend(sorted(jobs.pop(r.job_id), key=lambda x: (x.node_rank or 0, x.id)))
    return out
