"""Grid sweeps: one `clpbert run ... --sweep KEY=V1,V2 [--sweep KEY2=...]` launches a run per point
of the cartesian product, each an ordinary run (same launcher, GPU queue, registry) with its point
as extra `--set` overrides, a name that shows the point, and one shared tag `sweep-<id>`, so
`clpbert runs compare --tag sweep-<id>` puts them side by side.

Every point's config is resolved and checked before the first run is created: a bad value in any
point starts nothing. Runs asking for the same GPUs queue behind each other (the GPU ledger); with
`--gpus auto:N` they spread over free GPUs.
"""

from __future__ import annotations

import dataclasses
import itertools
import secrets
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from clpbert.errors import UserError

if TYPE_CHECKING:
    from clpbert.registry import Registry

MAX_POINTS = 256
"""More runs than this from one command is almost surely a typo in a value list."""


def parse_sweep(items: Sequence[str], sets: Sequence[str] = ()) -> list[tuple[str, list[str]]]:
    """`["optim.lr=1e-4,3e-4", "data.batch_size=8,16"]` -> [(key, values), ...], checked."""
    set_keys = {s.partition("=")[0].strip() for s in sets}
    axes: list[tuple[str, list[str]]] = []
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        values = [v.strip() for v in raw.split(",")]
        if not sep or not key or not raw.strip() or any(not v for v in values):
            raise UserError(f"--sweep {item!r}: write KEY=V1,V2,... (e.g. --sweep optim.lr=1e-4,3e-4)")
        if any(k == key for k, _ in axes):
            raise UserError(f"--sweep {key} is given twice; put all its values in one --sweep")
        if key in set_keys:
            raise UserError(f"{key} is both --set and --sweep; keep one")
        if len(set(values)) != len(values):
            raise UserError(f"--sweep {key}: a value is listed twice")
        axes.append((key, values))
    n = 1
    for _, values in axes:
        n *= len(values)
    if n > MAX_POINTS:
        raise UserError(f"--sweep makes {n} runs (more than {MAX_POINTS}); sweep fewer values at once")
    return axes


def points(axes: Sequence[tuple[str, list[str]]]) -> list[dict[str, str]]:
    """The cartesian product, first axis slowest: [{key: value, ...}, ...]."""
    keys = [k for k, _ in axes]
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(v for _, v in axes))]


def point_name(base: str, point: dict[str, str]) -> str:
    """`msrvtt_qa-lr=1e-4-batch_size=8`: the last part of each key, so names stay readable."""
    return "-".join([base, *(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in point.items())])


def launch_sweep(reg: Registry, req: Any, axes: Sequence[tuple[str, list[str]]],
                 environ: dict[str, str] | None = None) -> tuple[str, list[Any]]:
    """Check every point, then launch one run per point; (the sweep's tag, the runs)."""
    from clpbert.runs.service import check_request, launch_run

    tag = f"sweep-{secrets.token_hex(3)}"
    base = req.name or req.task
    requests = [dataclasses.replace(req, sets=[*req.sets, *(f"{k}={v}" for k, v in p.items())],
                                    name=point_name(base, p), tags=[*req.tags, tag])
                for p in points(axes)]
    checked = [check_request(reg, r, environ) for r in requests]  # all or nothing: a bad point starts none
    return tag, [launch_run(reg, r, environ, checked=c) for r, c in zip(requests, checked, strict=True)]
