"""Verify a registered dataset: one check behind `clpbert datasets verify` and the TUI's `v` key
(they used to check different things)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clpbert.errors import UserError

if TYPE_CHECKING:
    from clpbert.data.verify import VerifyReport
    from clpbert.registry import Dataset


@dataclass
class DatasetCheck:
    """The verify report of a registered dataset, plus how its split sizes compare with the registry's."""

    name: str
    report: VerifyReport
    split_problems: list[str] = field(default_factory=list)
    """`split: N records, registered M` for every split whose size changed since registration."""

    @property
    def ok(self) -> bool:
        return self.report.ok and not self.split_problems

    def message(self) -> str:
        """One line: OK with the summary, or every problem (what the TUI shows)."""
        r = self.report
        problems = list(self.split_problems)
        if r.missing:
            problems.append(f"{len(r.missing)} ids missing from vis_db (e.g. {r.missing[0]})")
        if r.undecodable:
            problems.append(f"{len(r.undecodable)} undecodable (e.g. {r.undecodable[0][0]})")
        if problems:
            return f"dataset {self.name}: " + "; ".join(problems)
        return f"dataset {self.name}: OK ({r.summary()})"


def verify_registered(ds: Dataset, decode: bool = True) -> DatasetCheck:
    """Every txt_db id is in the vis_db (and, with decode, decodes); split sizes are as registered.

    Raises UserError when the dataset's videos were never packed.
    """
    if not (Path(ds.vis_db) / "data.mdb").is_file():
        raise UserError(f"dataset {ds.name} has no videos packed yet ({ds.vis_db} is missing); re-run "
                        f"`clpbert datasets prepare {ds.format} ... --name {ds.name} --videos DIR|TAR`")
    from clpbert.data.verify import verify_dataset

    report = verify_dataset(ds.txt_db, ds.vis_db, decode=decode)
    problems = [f"{s}: {report.splits.get(s, 0)} records, registered {n}"
                for s, n in ds.splits.items() if report.splits.get(s, 0) != n]
    return DatasetCheck(ds.name, report, problems)


def prepare(*args: Any, **kwargs: Any) -> Any:
    """Convert an official dataset release into txt_db + vis_db and register it (`clpbert datasets
    prepare`); the arguments and report of `clpbert.data.convert.prepare.prepare`."""
    from clpbert.data.convert.prepare import prepare as convert

    return convert(*args, **kwargs)
