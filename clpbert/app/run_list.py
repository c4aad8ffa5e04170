"""One page of the run listing, filtered the same way for `clpbert runs list` and the TUI's runs
table: by states, task, text (id, name, task, dataset, tags, notes) and tag, with the count of all
matches and a multi-node job's runs kept together."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from clpbert.registry import Registry, Run


@dataclass(frozen=True)
class RunsPage:
    total: int
    """Every run matching the filters (the page may hold fewer)."""
    runs: list[Run]
    """This page's runs in the order asked."""

    def grouped(self) -> list[Run]:
        """The runs, a multi-node job's node runs together, by node rank (clpbert.app.job.group_jobs)."""
        from clpbert.app.job import group_jobs

        return group_jobs(self.runs)


def runs_page(reg: Registry, *, states: Sequence[str] = (), task: str | None = None, text: str | None = None,
              tag: str | None = None, order: str = "-created", limit: int | None = None, offset: int = 0
              ) -> RunsPage:
    """The runs matching every filter given (empty ones do not filter), `limit` of them from
    `offset` (all with None)."""
    filters = {"state": list(states) or None, "task": task or None, "text": text or None, "tag": tag or None}
    runs = reg.list_runs(**filters, order=order, limit=limit, offset=offset)
    total = reg.count_runs(**filters) if limit is not None or offset else len(runs)
    return RunsPage(total, runs)
