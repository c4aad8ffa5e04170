"""The rendezvous half of clpbert.runs.job_link: every rank tells the others its node's run id and host,
and each node's local rank 0 records the job in its events.jsonl (a `job` event)."""

from __future__ import annotations

import os

from clpbert.runs import job_link
from clpbert.train import distributed
from clpbert.train.events import EVENTS_PER_NODE_ENV, EventWriter


def announce_job(dist: distributed.DistInfo, events: EventWriter) -> None:
    """A collective (every rank calls it): only for a job whose nodes are each their own run."""
    if not dist.enabled or os.environ.get(EVENTS_PER_NODE_ENV) != "1":
        return
    me = job_link.node_entry()
    fields = job_link.job_fields(distributed.all_gather_object(me), me["node_rank"])
    if fields is not None:
        events.job(**fields)
