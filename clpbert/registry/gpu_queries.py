"""GPU samples and the scheduler's GPU reservation ledger."""

from __future__ import annotations

import socket
import time as _time
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import (
    delete,
    insert,
    select,
)
from sqlalchemy.exc import IntegrityError

from clpbert.errors import UserError
from clpbert.registry.entities import (
    GpuReservation,
    GpuSample,
)
from clpbert.registry.store import (
    T_GPU,
    T_RES,
    Store,
    _gpu,
    _gpu_entries,
    _now,
    _reservation,
)

GPU_FIELDS = ("run_id", "gpu_uuid", "gpu_index", "time", "util", "mem_used", "mem_total", "power",
              "temperature")


class GpusBusyError(UserError):
    """Some requested GPUs are reserved by other runs; `holders` maps GPU key -> run id."""

    def __init__(self, holders: Mapping[str, str]):
        self.holders = dict(holders)
        busy = ", ".join(f"{k} (run {r})" for k, r in sorted(self.holders.items()))
        super().__init__(f"GPUs already reserved: {busy}; wait for those runs or pick other --gpus")


class GpuQueries(Store):
    """GPU samples and the scheduler's GPU reservation ledger."""

    # ---------------------------------------------------------------- GPU samples

    def add_gpu_samples(self, samples: Iterable[GpuSample | Mapping[str, Any]]) -> int:
        params = []
        for s in samples:
            d = s.to_dict() if isinstance(s, GpuSample) else dict(s)
            if not d.get("gpu_uuid"):
                raise ValueError(f"GPU sample without gpu_uuid: {d!r}")
            d["time"] = _now(d.get("time"))
            params.append(tuple(d.get(k) for k in GPU_FIELDS))
        if params:
            with self._write() as conn:
                self._bulk_insert(conn, T_GPU, GPU_FIELDS, params)
        return len(params)

    def latest_gpu_samples(self, uuids: Iterable[str] | None = None) -> dict[str, GpuSample]:
        g = T_GPU.c
        out: dict[str, GpuSample] = {}
        with self._read() as conn:
            if uuids is None:
                uuids = list(conn.execute(select(g.gpu_uuid).distinct()).scalars())
            for uuid in uuids:
                row = conn.execute(select(T_GPU).where(g.gpu_uuid == uuid)
                                   .order_by(g.time.desc(), g.id.desc()).limit(1)).first()
                if row is not None:
                    out[uuid] = _gpu(row)
        return out

    def gpu_series(self, uuid: str, *, since: float | None = None, until: float | None = None,
                   run_id: str | None = None, limit: int | None = None) -> list[GpuSample]:
        g = T_GPU.c
        q = select(T_GPU).where(g.gpu_uuid == uuid)
        if since is not None:
            q = q.where(g.time >= since)
        if until is not None:
            q = q.where(g.time <= until)
        if run_id is not None:
            q = q.where(g.run_id == run_id)
        if limit is not None:  # the newest `limit` samples, returned oldest first
            q = q.order_by(g.time.desc(), g.id.desc()).limit(int(limit))
            with self._read() as conn:
                return [_gpu(r) for r in reversed(conn.execute(q).all())]
        with self._read() as conn:
            return [_gpu(r) for r in conn.execute(q.order_by(g.time, g.id))]

    def prune_gpu_samples(self, before: float) -> int:
        with self._write() as conn:
            return conn.execute(delete(T_GPU).where(T_GPU.c.time < before)).rowcount

    # ---------------------------------------------------------------- GPU reservations

    def reserve_gpus(self, run_id: str, gpus: Iterable[Any], *,
                     host: str | None = None) -> list[GpuReservation]:
        host = host if host is not None else socket.gethostname()
        entries = _gpu_entries(gpus)
        keys = [e["key"] for e in entries]
        r = T_RES.c
        try:
            with self._write() as conn:
                self._require_run(conn, run_id)
                held = {row.gpu_key: row.run_id for row in conn.execute(
                    select(r.gpu_key, r.run_id).where(r.host == host, r.gpu_key.in_(keys)))}
                others = {k: rid for k, rid in held.items() if rid != run_id}
                if others:
                    raise GpusBusyError(others)
                t = _time.time()
                new = [{"host": host, "gpu_key": e["key"], "gpu_index": e["index"], "gpu_uuid": e["uuid"],
                        "run_id": run_id, "reserved_at": t} for e in entries if e["key"] not in held]
                if new:
                    conn.execute(insert(T_RES), new)
                rows = conn.execute(select(T_RES).where(r.host == host, r.gpu_key.in_(keys))
                                    .order_by(r.gpu_index, r.gpu_key)).all()
        except IntegrityError:  # PostgreSQL: a concurrent reservation won the race
            with self._read() as conn:
                held = {row.gpu_key: row.run_id for row in conn.execute(
                    select(r.gpu_key, r.run_id).where(r.host == host, r.gpu_key.in_(keys)))}
            raise GpusBusyError({k: v for k, v in held.items() if v != run_id}) from None
        return [_reservation(x) for x in rows]

    def release_gpus(self, run_id: str, *, host: str | None = None) -> int:
        q = delete(T_RES).where(T_RES.c.run_id == run_id)
        if host is not None:
            q = q.where(T_RES.c.host == host)
        with self._write() as conn:
            return conn.execute(q).rowcount

    def reserved_gpus(self, *, host: str | None = None) -> list[GpuReservation]:
        q = select(T_RES).order_by(T_RES.c.host, T_RES.c.gpu_index, T_RES.c.gpu_key)
        if host is not None:
            q = q.where(T_RES.c.host == host)
        with self._read() as conn:
            return [_reservation(x) for x in conn.execute(q)]
