"""What links the node runs of one multi-node job (`--nnodes N --node-rank R`, each node its own run).

Each node launches its own run (own supervisor, run dir and, with a SQLite registry per node, own
registry), so no node knows the others' run ids when it launches. The rendezvous is the one moment
they meet: the trainer's ranks all-gather (node rank, run id, host) once (clpbert.train.job_announce)
and each node's local rank 0 writes a `job` event; the supervisor ingests it into the node's Run row:

    job_id      node 0's run id (node 0 knows it at launch; the others learn it at the rendezvous)
    node_rank   this node's rank (known at launch)
    job_nodes   every node as the rendezvous saw it: [{"node_rank", "run_id", "host"}, ...]

Nothing is guessed: before the rendezvous a node other than 0 has no job id, and a peer whose row
is in another registry is shown with the run id and host the rendezvous gave, its state unknown.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from clpbert.runs.launch import Topology

GROUP_RANK_ENV = "GROUP_RANK"
"""torchrun's name for the node rank of a worker."""


def node_of_job(run_id: str, topology: Topology) -> dict[str, Any]:
    """The Run row's job fields at launch: node_rank for a multi-node run, and the job id on node 0."""
    if topology.nnodes <= 1:
        return {}
    return {"node_rank": topology.node_rank, "job_id": run_id if topology.node_rank == 0 else None}


def node_entry(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """What this trainer process tells the others at the rendezvous (its node's run and host)."""
    env = os.environ if environ is None else environ
    local_world = int(env.get("LOCAL_WORLD_SIZE") or 1)
    rank = int(env.get(GROUP_RANK_ENV) or int(env.get("RANK") or 0) // max(local_world, 1))
    return {"node_rank": rank, "run_id": env.get("CLPBERT_RUN_ID", ""), "host": socket.gethostname()}


def job_fields(entries: Iterable[Mapping[str, Any]], node_rank: int) -> dict[str, Any] | None:
    """The `job` event of node `node_rank` from every rank's entry (one per node kept, by node rank);
    None when the entries name no node 0 run (nothing to link to)."""
    nodes: dict[int, dict[str, Any]] = {}
    for e in entries:
        nodes.setdefault(int(e["node_rank"]), {"node_rank": int(e["node_rank"]), "run_id": str(e["run_id"]),
                                               "host": str(e.get("host") or "")})
    node0 = nodes.get(0)
    if node0 is None or not node0["run_id"]:
        return None
    return {"job_id": node0["run_id"], "node_rank": int(node_rank),
            "nodes": [nodes[k] for k in sorted(nodes)]}


def run_fields_of_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """Run row fields from a `job` event ({} for a malformed one: a torn or foreign line links nothing)."""
    job_id, rank, nodes = event.get("job_id"), event.get("node_rank"), event.get("nodes")
    if not isinstance(job_id, str) or not job_id or not isinstance(rank, int) or not isinstance(nodes, list):
        return {}
    clean = [{"node_rank": n["node_rank"], "run_id": str(n["run_id"]), "host": str(n.get("host") or "")}
             for n in nodes
             if isinstance(n, dict) and isinstance(n.get("node_rank"), int) and n.get("run_id")]
    return {"job_id": job_id[:64], "node_rank": rank, "job_nodes": clean}
