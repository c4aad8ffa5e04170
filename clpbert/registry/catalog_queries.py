"""Datasets and checkpoints: the registry's catalogue of inputs."""

from __future__ import annotations

import os
import time as _time
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import (
    delete,
    insert,
    select,
    update,
)

from clpbert import paths
from clpbert.errors import NotFoundError, UserError
from clpbert.registry.entities import (
    CHECKPOINT_KINDS,
    Checkpoint,
    Dataset,
)
from clpbert.registry.store import (
    T_CKPTS,
    T_DATASETS,
    Store,
    _checkpoint,
    _dataset,
)


class CatalogQueries(Store):
    """Datasets and checkpoints: the registry's catalogue of inputs."""

    # ---------------------------------------------------------------- datasets

    def add_dataset(self, name: str, *, format: str = "", task: str = "", txt_db: str = "",
                    vis_db: str = "", tokenizer: str = "", splits: Mapping[str, int] | None = None,
                    fingerprint: str = "") -> Dataset:
        paths.check_name(name, "dataset name")
        values = {"format": format, "task": task, "txt_db": str(txt_db), "vis_db": str(vis_db),
                  "tokenizer": str(tokenizer), "splits": dict(splits or {}), "fingerprint": fingerprint}
        with self._write() as conn:
            found = conn.execute(select(T_DATASETS.c.id).where(T_DATASETS.c.name == name)).first()
            if found is None:
                conn.execute(insert(T_DATASETS).values(name=name, created=_time.time(), **values))
            else:
                conn.execute(update(T_DATASETS).where(T_DATASETS.c.id == found[0]).values(**values))
            return _dataset(conn.execute(select(T_DATASETS).where(T_DATASETS.c.name == name)).one())

    def get_dataset(self, name: str) -> Dataset:
        with self._read() as conn:
            row = conn.execute(select(T_DATASETS).where(T_DATASETS.c.name == name)).first()
        if row is None:
            raise NotFoundError(f"no dataset {name!r}; `clpbert datasets list` shows registered datasets")
        return _dataset(row)

    def list_datasets(self, task: str | None = None) -> list[Dataset]:
        q = select(T_DATASETS).order_by(T_DATASETS.c.name)
        if task:
            q = q.where(T_DATASETS.c.task == task)
        with self._read() as conn:
            return [_dataset(r) for r in conn.execute(q)]

    def remove_dataset(self, name: str) -> Dataset:
        ds = self.get_dataset(name)
        with self._write() as conn:
            conn.execute(delete(T_DATASETS).where(T_DATASETS.c.id == ds.id))
        return ds

    # ---------------------------------------------------------------- checkpoints

    def add_checkpoint(self, path: str | os.PathLike[str], *, name: str | None = None,
                       kind: str = "finetuned", source: str = "", sha256: str = "",
                       size: int | None = None, run_id: str | None = None, step: int | None = None,
                       notes: str = "", replace: bool = False) -> Checkpoint:
        if kind not in CHECKPOINT_KINDS:
            raise UserError(f"unknown checkpoint kind {kind!r}; one of: {', '.join(CHECKPOINT_KINDS)}")
        p = Path(path).expanduser().absolute()
        name = name or p.stem
        if size is None:
            size = p.stat().st_size if p.is_file() else 0
        values = {"path": str(p), "kind": kind, "source": source, "sha256": sha256, "size": int(size),
                  "run_id": run_id, "step": step, "notes": notes, "created": _time.time()}
        with self._write() as conn:
            if run_id is not None:
                self._require_run(conn, run_id)
            found = conn.execute(select(T_CKPTS.c.id).where(T_CKPTS.c.name == name)).first()
            if found is not None and not replace:
                raise UserError(f"checkpoint name {name!r} is already registered; choose another --name "
                                f"or remove it first (`clpbert ckpts rm {name}`)")
            if found is None:
                conn.execute(insert(T_CKPTS).values(name=name, **values))
            else:
                conn.execute(update(T_CKPTS).where(T_CKPTS.c.id == found[0]).values(**values))
            return _checkpoint(conn.execute(select(T_CKPTS).where(T_CKPTS.c.name == name)).one())

    def get_checkpoint(self, ref: str | int) -> Checkpoint:
        ref_s = str(ref)
        with self._read() as conn:
            row = conn.execute(select(T_CKPTS).where(T_CKPTS.c.name == ref_s)).first()
            if row is None and ref_s.isdigit():
                row = conn.execute(select(T_CKPTS).where(T_CKPTS.c.id == int(ref_s))).first()
            if row is None:
                p = str(Path(ref_s).expanduser().absolute())
                row = conn.execute(select(T_CKPTS).where(T_CKPTS.c.path == p)
                                   .order_by(T_CKPTS.c.id.desc())).first()
        if row is None:
            raise NotFoundError(f"no checkpoint {ref_s!r}; `clpbert ckpts list` shows registered checkpoints")
        return _checkpoint(row)

    def list_checkpoints(self, kind: str | None = None, run_id: str | None = None) -> list[Checkpoint]:
        q = select(T_CKPTS).order_by(T_CKPTS.c.created.desc(), T_CKPTS.c.id.desc())
        if kind:
            q = q.where(T_CKPTS.c.kind == kind)
        if run_id:
            q = q.where(T_CKPTS.c.run_id == run_id)
        with self._read() as conn:
            return [_checkpoint(r) for r in conn.execute(q)]

    def remove_checkpoint(self, ref: str | int) -> Checkpoint:
        ck = self.get_checkpoint(ref)
        with self._write() as conn:
            conn.execute(delete(T_CKPTS).where(T_CKPTS.c.id == ck.id))
        return ck
