"""How `runs list` may be ordered: one rule for the SQLAlchemy registry and the light sqlite3 reader."""

from __future__ import annotations

from clpbert.errors import UserError

RUN_ORDER_KEYS = ("created", "started", "ended", "name", "state", "task", "kind", "step", "id",
                  "best_metric_value", "job_id")
"""`job_id` sorts the node runs of each multi-node job together, by node rank, one-node runs last."""


def parse_run_order(order: str) -> tuple[str, bool]:
    """(column, descending) of an order such as "-created"; a user error for an unknown column."""
    key = order.lstrip("-+")
    if key not in RUN_ORDER_KEYS:
        raise UserError(f"cannot order runs by {order!r}; use one of: {', '.join(RUN_ORDER_KEYS)} "
                        "(prefix '-' for descending)")
    return key, order.startswith("-")
