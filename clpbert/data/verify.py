"""Check a dataset before training on it: every txt_db id is in the vis_db and (optionally) decodes.

`clpbert datasets verify NAME` prints the report; training would otherwise only discover bad videos
one skipped item at a time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from clpbert.data.datasets import record_key
from clpbert.data.decode import VideoDecodeError, load_frames
from clpbert.data.txt_db import TxtDB
from clpbert.data.vis_db import VisDB


@dataclass
class VerifyReport:
    """Counts per split and the ids that are missing from the vis_db or fail to decode."""

    splits: dict[str, int] = field(default_factory=dict)
    """Records per split."""
    n_videos: int = 0
    """Distinct ids referenced by the txt_db."""
    n_vis_entries: int = 0
    missing: list[str] = field(default_factory=list)
    undecodable: list[tuple[str, str]] = field(default_factory=list)
    """(id, reason)."""
    kinds: dict[str, int] = field(default_factory=dict)
    """Stored value kinds of the checked ids: container extensions (`mp4`, `gif`) and `frames`."""

    @property
    def ok(self) -> bool:
        return not self.missing and not self.undecodable

    def summary(self) -> str:
        parts = [f"{n} {s}" for s, n in self.splits.items()]
        state = "ok" if self.ok else f"{len(self.missing)} missing, {len(self.undecodable)} undecodable"
        return (f"{', '.join(parts)} records; {self.n_videos} videos referenced, {self.n_vis_entries} in "
                f"vis_db; {state}")


def verify_dataset(txt_db_path: str | os.PathLike[str], vis_db_path: str | os.PathLike[str],
                   decode: bool = True, splits: list[str] | None = None) -> VerifyReport:
    """Check every split (or `splits`). With `decode`, decode the first frame of each referenced id."""
    txt = TxtDB(txt_db_path)
    vis = VisDB(vis_db_path)
    report = VerifyReport(n_vis_entries=len(vis))
    ids: dict[str, None] = {}
    for split in splits or txt.splits():
        records = txt.read(split)
        report.splits[split] = len(records)
        for rec in records:
            ids.setdefault(record_key(rec), None)
    report.n_videos = len(ids)
    for key in ids:
        try:
            record = vis.get(key)
        except KeyError:
            report.missing.append(key)
            continue
        kind = "frames" if record.kind == "frames" else record.ext
        report.kinds[kind] = report.kinds.get(kind, 0) + 1
        if decode:
            try:
                load_frames(record, lambda n, fps: [0, n - 1])
            except VideoDecodeError as e:
                report.undecodable.append((key, str(e)[:300]))
    vis.close()
    return report
