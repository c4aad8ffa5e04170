"""The decisions around run actions that both front-ends make: which runs may be removed, how a new
name/tags/notes become an edit, and which launch a task picked in the new-run dialog means."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from clpbert.errors import UserError

if TYPE_CHECKING:
    from clpbert.registry import Registry, Run


def runs_to_remove(reg: Registry, refs: Sequence[str], force: bool = False) -> list[Run]:
    """The runs `refs` name, refused (UserError) when one is active and `force` is off."""
    from clpbert.runs.lifecycle import is_active

    runs = [reg.get_run(r) for r in refs]
    active = [r for r in runs if is_active(r.state)]
    if active and not force:
        raise UserError(f"run {active[0].id} is {active[0].state}; stop it first or pass --force")
    return runs


def set_labels(reg: Registry, run_id: str, *, name: str, tags: Sequence[str], notes: str) -> None:
    """Make the run's name, tags and notes exactly these (registry and run.json): the tags it lacks
    are added, the ones not listed removed (`clpbert runs edit` takes the changes directly)."""
    from clpbert.runs.run_dirs import edit_run

    current = [str(t) for t in reg.get_run(run_id).tags]
    added = [t for t in tags if t not in current]
    removed = [t for t in current if t not in tags]
    edit_run(reg, run_id, name=name, notes=notes, add_tags=added, remove_tags=removed)


def launch_task(reg: Registry, task: str, *, dataset: str = "", init: str = "", gpus: Sequence[str] = (),
                name: str = "", overrides: Sequence[str] = ()) -> Run:
    """Create and launch a run of `task` (pretraining for `pretrain`, else fine-tuning); empty
    strings mean the preset's choice."""
    from clpbert.runs.service import LaunchRequest, launch_run

    kind = "pretrain" if task == "pretrain" else "finetune"
    request = LaunchRequest(kind=kind, task=task, dataset=dataset or None, init=init or None,
                            gpus=",".join(gpus) or None, sets=list(overrides), name=name)
    return launch_run(reg, request)
