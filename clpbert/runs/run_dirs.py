"""A run dir is the durable record of a run; the registry is its index. This module goes back from
the record to the index: `import_run_dirs` registers run dirs that this registry does not know (a
run copied from a cluster, a registry that was lost or started afresh, runs of a colleague).

What a run dir holds and what the registry gets from it:

    run.json      id, name, kind, task, tags, notes (written at launch; older dirs: the dir name)
    config.yaml   the resolved config: kind, task, dataset, total steps, selection metric
    events.jsonl  metrics, evaluations, checkpoints (ingested from byte 0, as a supervisor would),
                  attempts (one per `start` event) and the final state (the last `finish` event)

The run keeps its directory where it is (nothing is copied) and is recorded as a run of this host,
so `runs resume` can continue it here. A dir whose trainer never wrote a finish event is `lost`.
All dirs are checked before anything is written, and a run whose import fails is removed again:
an import leaves either the whole run or nothing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clpbert import paths
from clpbert.errors import UserError
from clpbert.runs.ingest import Ingestor
from clpbert.runs.lifecycle import RunState
from clpbert.runs.outcome import Outcome, from_finish
from clpbert.runs.run_dir import CONFIG_FILE, EVENTS_FILE, RUN_FILE, RunDir

if TYPE_CHECKING:
    from clpbert.registry import Registry


def write_run_file(run: Any) -> None:
    """RUN_DIR/run.json: who the run is, so the dir alone can be imported into another registry."""
    data = {"id": run.id, "name": run.name, "kind": run.kind, "task": run.task, "dataset": run.dataset,
            "tags": list(run.tags), "notes": run.notes, "created": run.created}
    RunDir(run.run_dir).write_json(RUN_FILE, data, indent=1)


def edit_run(reg: Registry, ref: str, *, name: str | None = None, add_tags: Sequence[str] = (),
             remove_tags: Sequence[str] = (), notes: str | None = None) -> Any:
    """Rename a run, tag/untag it or replace its notes, in the registry and in its run.json (so an
    import elsewhere keeps them); the updated Run. Works in any state: it is bookkeeping only."""
    run = reg.get_run(ref)
    if name is not None and not name.strip():
        raise UserError("--name: a run name cannot be empty")
    unknown = [t for t in remove_tags if t not in run.tags]
    if unknown:
        have = ", ".join(map(str, run.tags)) or "none"
        raise UserError(f"run {run.id} has no tag {unknown[0]!r}; its tags: {have}")
    tags = [t for t in run.tags if t not in remove_tags]
    tags += [t for t in dict.fromkeys(add_tags) if t not in tags]
    fields: dict[str, Any] = {"tags": tags}
    if name is not None:
        fields["name"] = name.strip()
    if notes is not None:
        fields["notes"] = notes
    run = reg.update_run(run.id, **fields)
    if run.run_dir and Path(run.run_dir).is_dir():
        write_run_file(run)
    return run


def is_run_dir(path: Path) -> bool:
    return (path / CONFIG_FILE).is_file() and (path / EVENTS_FILE).is_file()


def find_run_dirs(path: str | os.PathLike[str]) -> list[Path]:
    """PATH itself when it is a run dir, else the run dirs directly inside it (e.g. an old
    CLPBERT_HOME/runs), sorted; a UserError when there is none."""
    root = Path(path).expanduser()
    if not root.exists():
        raise UserError(f"{root}: no such directory; give a run dir or a folder of run dirs")
    if is_run_dir(root):
        return [root.resolve()]
    inside = root.iterdir() if root.is_dir() else iter(())
    found = sorted(p.resolve() for p in inside if p.is_dir() and is_run_dir(p))
    if not found:
        raise UserError(f"{root}: not a run dir and none inside it (a run dir holds {CONFIG_FILE} and "
                        f"{EVENTS_FILE})")
    return found


@dataclass
class RunDirFacts:
    """What a run dir says about its run, read and checked before anything is written."""

    path: Path
    identity: dict[str, Any]
    config: Any
    events: list[dict[str, Any]]

    @property
    def starts(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("event") == "start"]

    @property
    def finish(self) -> dict[str, Any] | None:
        """The last attempt's finish event (None when the last start has none after it)."""
        for ev in reversed(self.events):
            if ev.get("event") == "finish":
                return ev
            if ev.get("event") == "start":
                return None
        return None


def read_run_dir(path: Path) -> RunDirFacts:
    """Parse run.json, config.yaml and events.jsonl; a UserError naming the file when one is unusable."""
    from clpbert.config import load_config
    from clpbert.train.events import read_events

    identity: dict[str, Any] = {}
    if (path / RUN_FILE).exists():
        try:
            identity = json.loads((path / RUN_FILE).read_text())
        except ValueError as e:
            raise UserError(f"{path / RUN_FILE}: not valid JSON ({e}); fix or delete it") from None
        if not isinstance(identity, dict):
            raise UserError(f"{path / RUN_FILE}: not a JSON object; fix or delete it")
    try:
        config = load_config(path / CONFIG_FILE)
    except UserError as e:
        where = str(path / CONFIG_FILE)
        raise UserError(str(e) if where in str(e) else f"{where}: {e}") from None
    return RunDirFacts(path, identity, config, read_events(path))


@dataclass
class Imported:
    run: Any
    already: bool
    """True when the registry had this run dir already (nothing was written)."""
    new_id: bool = False
    """True when the dir's own id belongs to another run here, so the run got a fresh one."""


def _outcome(facts: RunDirFacts) -> Outcome:
    if facts.finish is not None:
        return from_finish(facts.finish, log_path=RunDir(facts.path).train_log)
    if not facts.starts:
        return Outcome(RunState.LOST, "imported: its trainer never started (no start event)")
    return Outcome(RunState.LOST, "imported: its events end without a finish event (still running elsewhere, "
                           "or the trainer died)")


def _attempts(reg: Registry, run_id: str, facts: RunDirFacts, outcome: Outcome) -> None:
    """One attempt per start event, ended by its finish event (or by the next start: lost)."""
    number = 0
    open_attempt = False
    for ev in facts.events:
        kind, t = ev.get("event"), ev.get("time")
        if kind == "start":
            if open_attempt:
                reg.end_attempt(run_id, RunState.LOST, number=number,
                                reason="restarted without a finish event", now=t)
            number = reg.start_attempt(run_id, now=t).number
            open_attempt = True
        elif kind == "finish" and open_attempt:
            state = from_finish(ev).state
            reg.end_attempt(run_id, state, number=number, reason=ev.get("reason"), now=t)
            open_attempt = False
    if open_attempt:
        reg.end_attempt(run_id, outcome.state, number=number, reason=outcome.reason)


def registered_dirs(reg: Registry) -> dict[Path, Any]:
    """Resolved run dir -> its run, for every run of the registry (read once per import)."""
    return {Path(run.run_dir).resolve(): run for run in reg.list_runs() if run.run_dir}


def import_run_dir(reg: Registry, facts: RunDirFacts, name: str | None = None,
                   registered: dict[Path, Any] | None = None) -> Imported:
    """Register one checked run dir with its whole history; the registry's run.

    `registered`: `registered_dirs(reg)` when importing many dirs (read here when not given).
    """
    known = (registered if registered is not None else registered_dirs(reg)).get(facts.path)
    if known is not None:
        return Imported(known, already=True)
    cfg, ident = facts.config, facts.identity
    wanted = str(ident.get("id") or facts.path.name)
    created = ident.get("created") or (facts.events[0].get("time") if facts.events else None)
    fields = dict(dataset=ident.get("dataset") or cfg.data.dataset, config=cfg.to_dict(),
                  name=name or ident.get("name") or facts.path.name, tags=ident.get("tags") or [],
                  notes=ident.get("notes") or "", run_dir=facts.path, total_steps=cfg.optim.max_steps or None,
                  state=RunState.QUEUED)
    kind, task = ident.get("kind") or cfg.kind, ident.get("task") or cfg.task.name
    try:
        paths.check_name(wanted, "run id")
        run = reg.create_run(kind, task, run_id=wanted, **fields)
    except UserError:  # the id is taken here (another run), or the dir's name is no usable id
        run = reg.create_run(kind, task, **fields)
    try:
        if created:
            reg.update_run(run.id, created=float(created))
        outcome = _outcome(facts)
        _attempts(reg, run.id, facts, outcome)
        ingestor = Ingestor(reg, run.id, facts.path, offset=0, metric=cfg.eval.metric or None, kind=cfg.kind)
        ingestor.drain()
        if facts.starts:
            reg.set_run_state(run.id, RunState.RUNNING, now=facts.starts[0].get("time"))
        finish_t = facts.finish.get("time") if facts.finish else None
        reg.set_run_state(run.id, outcome.state, reason=outcome.reason, exit_code=outcome.exit_code,
                          signal=outcome.signal, now=finish_t)
    except BaseException:
        reg.delete_run(run.id)  # nothing half-imported stays behind
        raise
    return Imported(reg.get_run(run.id), already=False, new_id=run.id != wanted)


def import_run_dirs(reg: Registry, where: list[str | os.PathLike[str]],
                    name: str | None = None) -> list[Imported]:
    """Find, check (all of them, before writing), then import every run dir under the given paths."""
    dirs: list[Path] = []
    for p in where:
        for d in find_run_dirs(p):
            if d not in dirs:
                dirs.append(d)
    if name and len(dirs) > 1:
        raise UserError(f"--name names one run, but {len(dirs)} run dirs were found; leave it out")
    checked = [read_run_dir(d) for d in dirs]
    registered = registered_dirs(reg)
    return [import_run_dir(reg, facts, name, registered) for facts in checked]
