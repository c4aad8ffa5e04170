"""The trainer's side of the data: where the files are, and deterministic, resumable batch order.

* `resolve_sources`: cfg.data.dataset (comma-separated for pretraining's COCO,VG) -> registry row
  (or CLPBERT_HOME/datasets/<name>) -> txt_db / vis_db / tokenizer; explicit data.txt_db /
  data.vis_db / data.tokenizer win.
* `EpochOrder`: epoch e's order is randperm(n) seeded by (seed, e); rank r takes every world-th
  entry (padded to a multiple of world), in batches. A position (epoch, batch) fully determines
  what comes next, so a resumed run skips consumed batches without loading them.
* `SeededItems`: item randomness (clip starts, negatives, MLM) is drawn from an rng seeded by
  (seed, epoch, index), so it does not depend on ranks, workers or where a run was resumed.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, get_worker_info

from clpbert.config import RunConfig
from clpbert.errors import ConfigError, NotFoundError


@dataclass
class DataSource:
    name: str
    txt_db: str
    vis_db: str
    tokenizer: str


def _split_list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _registered(name: str) -> tuple[str, str, str] | None:
    """(txt_db, vis_db, tokenizer) of a registered dataset, else of CLPBERT_HOME/datasets/<name>."""
    try:
        from clpbert.registry import open_registry

        with open_registry() as reg:
            row = reg.get_dataset(name)
        return row.txt_db, row.vis_db, row.tokenizer
    except NotFoundError:
        pass
    except ImportError:
        pass
    return home_dataset_sources(name)


def home_dataset_sources(name: str) -> tuple[str, str, str] | None:
    """(txt_db, vis_db, tokenizer) of an unregistered dataset folder CLPBERT_HOME/datasets/<name>."""
    from clpbert import paths

    d = paths.dataset_dir(name)
    if (d / "txt_db").is_dir():
        tok = d / "tokenizer"
        return str(d / "txt_db"), str(d / "vis_db"), str(tok) if tok.is_dir() else ""
    return None


def _default_tokenizer(txt_db: str) -> str:
    sibling = Path(txt_db).parent / "tokenizer"
    if (sibling / "vocab.txt").is_file() or (sibling / "tokenizer.json").is_file():
        return str(sibling)
    from clpbert import paths

    return str(paths.pretrained_dir() / "bert-base-uncased")


Lookup = Callable[[str], "tuple[str, str, str] | None"]


def resolve_sources(cfg: RunConfig, lookup: Lookup | None = None) -> list[DataSource]:
    """One DataSource per dataset (pretraining may mix several, e.g. data.dataset=coco,vg).

    `lookup`: name -> (txt_db, vis_db, tokenizer) or None; default: the registry, else the datasets
    dir. A config the launcher wrote carries every path, so the trainer never calls it.
    """
    lookup = lookup or _registered
    names = _split_list(cfg.data.dataset)
    txts, viss = _split_list(cfg.data.txt_db), _split_list(cfg.data.vis_db)
    toks = _split_list(cfg.data.tokenizer)
    n = max(len(names), len(txts), len(viss), 1)
    out = []
    for i in range(n):
        name = names[i] if i < len(names) else ""
        txt = txts[i] if i < len(txts) else ""
        vis = viss[i] if i < len(viss) else ""
        tok = toks[i] if i < len(toks) else (toks[0] if toks else "")
        if name and not (txt and vis and tok):
            found = None if (txt and vis and tok) else lookup(name)
            if found is None and not (txt and vis):
                raise NotFoundError(f"dataset {name!r} is neither registered nor in the datasets dir; "
                                    "`clpbert datasets list` shows what exists, "
                                    "or set data.txt_db and data.vis_db")
            if found is not None:
                txt, vis, tok = txt or found[0], vis or found[1], tok or found[2]
        if not txt or not vis:
            raise ConfigError("no data: set data.dataset to a registered dataset (`clpbert datasets list`) "
                              "or both data.txt_db and data.vis_db")
        label = name or (Path(txt).parent.name if Path(txt).name == "txt_db" else Path(txt).name)
        if label in {s.name for s in out}:
            label = f"{label}{i}"
        out.append(DataSource(label, txt, vis, tok or _default_tokenizer(txt)))
    return out


class EpochOrder:
    """Deterministic per-epoch batches of dataset indices for one rank (see module docstring)."""

    def __init__(self, n: int, batch_size: int, world_size: int, rank: int, seed: int, shuffle: bool = True,
                 drop_last: bool = True):
        if n <= 0:
            raise ConfigError("the split is empty (check data.train_split / data.max_train_examples)")
        self.n, self.batch_size, self.world, self.rank, self.seed = n, batch_size, world_size, rank, seed
        self.shuffle = shuffle
        per_rank = -(-n // world_size)
        # a split smaller than one global batch still trains (on partial batches)
        self.drop_last = drop_last and per_rank >= batch_size
        self.per_rank = per_rank

    @property
    def batches_per_epoch(self) -> int:
        full, rest = divmod(self.per_rank, self.batch_size)
        return full if self.drop_last or rest == 0 else full + 1

    def indices(self, epoch: int) -> list[int]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            order = torch.randperm(self.n, generator=g).tolist()
        else:
            order = list(range(self.n))
        total = self.per_rank * self.world
        order += order[: total - len(order)]  # pad so every rank has the same count
        return order[self.rank::self.world]

    def batches(self, epoch: int) -> list[list[int]]:
        idx = self.indices(epoch)
        return [idx[i * self.batch_size:(i + 1) * self.batch_size] for i in range(self.batches_per_epoch)]


class ResumableBatches:
    """Endless (epoch, index) batches from a position; iterated by the DataLoader's batch sampler."""

    def __init__(self, order: EpochOrder, epoch: int = 0, pos: int = 0):
        self.order, self.epoch, self.pos = order, epoch, pos

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        epoch, pos = self.epoch, self.pos
        while True:
            for b in self.order.batches(epoch)[pos:]:
                yield [(epoch, i) for i in b]
            epoch, pos = epoch + 1, 0


class SeededItems(Dataset):
    """Adapter: key (epoch, index) -> dataset[index] drawn with an rng seeded by (seed, epoch, index).

    Sets the dataset's per-process rng (`_rng`, see clpbert.data.datasets._Base.rng) before each
    item; datasets without one are called as they are.
    """

    def __init__(self, dataset: Any, seed: int):
        self.dataset, self.seed = dataset, seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> Any:
        epoch, index = key
        ds = self.dataset
        if hasattr(ds, "_rng"):
            info = get_worker_info()
            ds._rng = random.Random((self.seed * 1_000_003 + epoch) * 1_000_000_007 + index)
            ds._rng_key = (os.getpid(), info.seed if info is not None else None)
        return ds[index]


MAX_AUTO_WORKERS = 4


def resolve_num_workers(requested: int, processes_per_node: int | None = None,
                        cores: int | None = None) -> int:
    """`data.num_workers`, with -1 (the default) resolved to what this machine has: the cores this
    process may use divided by the processes on this node, less one for the trainer itself, capped
    at MAX_AUTO_WORKERS. (A fixed 4 per process asked 8 workers of a 2-core machine.)"""
    if requested >= 0:
        return requested
    if processes_per_node is None:
        processes_per_node = int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1)
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(0, min(MAX_AUTO_WORKERS, cores // max(1, processes_per_node) - 1))


def loader_kwargs(cfg: RunConfig, device: torch.device, seed: int) -> dict[str, Any]:
    workers = resolve_num_workers(cfg.data.num_workers)
    kw: dict[str, Any] = {"num_workers": workers,
                          "pin_memory": bool(cfg.data.pin_memory and device.type == "cuda"),
                          "generator": torch.Generator().manual_seed(seed)}
    if workers > 0:
        kw["persistent_workers"] = True
        kw["prefetch_factor"] = 4
    return kw


def train_loader(dataset: Any, order: EpochOrder, epoch: int, pos: int, cfg: RunConfig,
                 device: torch.device) -> DataLoader:
    """An endless DataLoader starting at (epoch, batch pos)."""
    return DataLoader(SeededItems(dataset, cfg.runtime.seed),
                      batch_sampler=ResumableBatches(order, epoch, pos), collate_fn=dataset.collate,
                      **loader_kwargs(cfg, device, cfg.runtime.seed + epoch))


def eval_loader(dataset: Any, batch_size: int, cfg: RunConfig, device: torch.device, world_size: int,
                rank: int) -> DataLoader:
    """This rank's shard of an evaluation split, in order, padded so every rank has as many batches."""
    order = EpochOrder(len(dataset), batch_size, world_size, rank, seed=0, shuffle=False, drop_last=False)
    kw = loader_kwargs(cfg, device, cfg.runtime.seed)
    kw.pop("persistent_workers", None)
    return DataLoader(dataset, batch_sampler=order.batches(0), collate_fn=dataset.collate, **kw)
