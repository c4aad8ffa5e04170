"""Launch-time check that a run's dataset has videos for its records.

A run on a dataset whose vis_db holds 4 of 22,745 referenced videos once trained on empty
batches and ended `finished`. `check_video_coverage` counts, per split the run reads, the records
whose video is in the vis_db, and refuses the launch (one line naming `clpbert datasets verify`)
when fewer than `min_coverage` of them have one; `clpbert run --min-video-coverage 0` launches
anyway. Paths that do not exist are left to the trainer, which reports them itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clpbert.errors import NotFoundError, UserError

DEFAULT_MIN_COVERAGE = 0.5


@dataclass(frozen=True)
class Coverage:
    source: str
    split: str
    records: int
    covered: int

    @property
    def fraction(self) -> float:
        return self.covered / self.records if self.records else 1.0


def _split_list(text: str) -> list[str]:
    return [t.strip() for t in str(text or "").split(",") if t.strip()]


def _sources(reg: Any, cfg: Any) -> list[tuple[str, str, str]]:
    """(label, txt_db, vis_db) of each dataset the run reads, where both are known."""
    names, txts, viss = (_split_list(cfg.data.dataset), _split_list(cfg.data.txt_db),
                         _split_list(cfg.data.vis_db))
    out = []
    for i in range(max(len(names), len(txts), len(viss), 1)):
        name = names[i] if i < len(names) else ""
        txt, vis = (txts[i] if i < len(txts) else ""), (viss[i] if i < len(viss) else "")
        if name and not (txt and vis):
            try:
                ds = reg.get_dataset(name)
                txt, vis = txt or ds.txt_db, vis or ds.vis_db
            except NotFoundError:
                continue
        if txt and vis:
            out.append((name or Path(txt).parent.name, txt, vis))
    return out


def measure(reg: Any, cfg: Any) -> list[Coverage]:
    """Coverage of every split the run reads (train unless an eval run, val, test)."""
    from clpbert.data.txt_db import TxtDB, record_key
    from clpbert.data.vis_db import VisDB

    wanted = [cfg.data.val_split, cfg.data.test_split]
    if cfg.kind != "eval":
        wanted.insert(0, cfg.data.train_split)
    out = []
    for label, txt_path, vis_path in _sources(reg, cfg):
        if not Path(txt_path).is_dir() or not Path(vis_path).is_dir():
            continue
        txt = TxtDB(txt_path)
        splits = [s for s in dict.fromkeys(wanted) if s and s in txt.splits()]
        if not splits:
            continue
        vis = VisDB(vis_path)
        try:
            keys = set(vis.keys())
        finally:
            vis.close()
        for split in splits:
            records = txt.read(split)
            covered = sum(1 for r in records if record_key(r) in keys)
            out.append(Coverage(label, split, len(records), covered))
    return out


def check_video_coverage(reg: Any, cfg: Any, min_coverage: float = DEFAULT_MIN_COVERAGE) -> list[Coverage]:
    """UserError when a split's records have their video less often than min_coverage (0 = no check)."""
    if not 0 <= min_coverage <= 1:
        raise UserError(f"--min-video-coverage {min_coverage}: give a fraction in [0, 1] (0 turns the check "
                        "off)")
    if min_coverage == 0:
        return []
    found = measure(reg, cfg)
    for c in found:
        if c.fraction < min_coverage:
            name = cfg.data.dataset or c.source
            raise UserError(f"only {c.covered} of {c.records} {c.split} records of dataset {c.source} have "
                            f"their video in the vis_db ({c.fraction:.1%} < {min_coverage:.0%}); "
                            f"`clpbert datasets verify {name}` lists what is missing (or launch anyway with "
                            "--min-video-coverage 0)")
    return found
