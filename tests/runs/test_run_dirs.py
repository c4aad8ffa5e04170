"""`runs import`: a run dir alone rebuilds its run in another registry (state, curves, evals,
checkpoints, attempts), once; bad dirs are refused before anything is written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from clpbert.errors import UserError
from clpbert.registry import open_registry
from clpbert.runs.run_dirs import RUN_FILE, import_run_dirs
from clpbert.runs.service import LaunchRequest, launch_run
from clpbert.train.events import EventWriter


def _view(reg, run_id: str) -> dict:
    """What a user sees of a run, minus where it lives."""
    run = reg.get_run(run_id)
    names = reg.metric_names(run_id)
    return {
        "run": {k: getattr(run, k) for k in ("name", "kind", "task", "dataset", "state", "reason", "step",
                                            "total_steps", "latest_loss", "best_metric_name",
                                            "best_metric_value", "created", "started", "ended", "tags",
                                            "notes")},
        "metrics": {n: (s.steps, s.values) for n in names for s in [reg.metric_series(run_id, n)]},
        "evals": [(e.step, e.split, e.metrics) for e in reg.list_evals(run_id)],
        "checkpoints": sorted((c.name.split("-", 1)[1], c.step, Path(c.path).name)
                              for c in reg.list_checkpoints(run_id=run_id)),
        "attempts": [(a.number, a.state) for a in reg.list_attempts(run_id)],
    }


@pytest.mark.slow
def test_a_copied_run_dir_rebuilds_the_same_run_in_a_fresh_registry(runs_home: Path, rt, tmp_path) -> None:
    with open_registry() as reg:
        sets = [*rt.TINY, "optim.max_steps=4", "eval.valid_steps=2"]
        req = LaunchRequest(kind="finetune", task="demo", dataset="demo", name="to-move", tags=["moved"],
                            notes="from the cluster", sets=sets)
        run = launch_run(reg, req)
        rt.wait_until(lambda: reg.get_run(run.id).state in ("finished", "failed"), 180, "the run to end")
        original = _view(reg, run.id)
    assert original["run"]["state"] == "finished", original["run"]["reason"]
    assert original["evals"] and original["checkpoints"]
    assert original["metrics"]["train/loss"][0] == [1, 2, 3, 4]

    copied = tmp_path / "elsewhere" / run.id
    shutil.copytree(run.run_dir, copied)
    other = open_registry(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        (imported,) = import_run_dirs(other, [copied.parent])
        assert not imported.already and imported.run.id == run.id
        assert imported.run.run_dir == str(copied.resolve())
        view = _view(other, run.id)
        # started/ended: the supervisor stamps them when it notices (poll lag, process exit); the
        # import takes the trainer's own event times, which come a little earlier
        for key in ("started", "ended"):
            assert 0 <= original["run"][key] - view["run"][key] < 60, key  # seconds, even on a loaded box
        same = {**original["run"], **{k: view["run"][k] for k in ("reason", "started", "ended")}}
        assert view["run"] == same
        for key in ("metrics", "evals", "checkpoints", "attempts"):
            assert view[key] == original[key], key
        ckpts = other.list_checkpoints(run_id=run.id)
        assert ckpts and all(Path(c.path).is_relative_to(copied.resolve()) for c in ckpts)

        (again,) = import_run_dirs(other, [copied])
        assert again.already and _view(other, run.id) == view  # nothing written twice
    finally:
        other.close()


def _run_dir(root: Path, name: str, events: list[tuple[str, dict]], identity: dict | None = None) -> Path:
    from clpbert.config import preset, save_config

    d = root / name
    d.mkdir(parents=True)
    save_config(preset("demo"), d / "config.yaml")
    w = EventWriter(d)
    for kind, fields in events:
        w.write(kind, **fields)
    w.close()
    if identity is not None:
        (d / RUN_FILE).write_text(json.dumps(identity))
    return d


START = ("start", {"step": 0, "world_size": 1, "total_steps": 4, "task": "demo", "attempt": 1})


def test_attempts_and_final_state_come_from_the_events(registry, tmp_path: Path) -> None:
    twice = _run_dir(tmp_path, "aa11bb22", [
        START, ("train", {"step": 1, "epoch": 0, "metrics": {"loss": 3.0}}),
        ("finish", {"step": 1, "status": "stopped", "reason": "SIGTERM"}),
        START, ("train", {"step": 2, "epoch": 0, "metrics": {"loss": 2.0}}),
        ("eval", {"step": 2, "split": "val", "metrics": {"acc": 0.5}}),
        ("finish", {"step": 2, "status": "finished", "reason": None})],
        identity={"id": "aa11bb22", "name": "two-tries", "tags": ["a"], "notes": "n", "kind": "finetune",
                  "task": "demo", "created": 1_700_000_000.0})
    cut = _run_dir(tmp_path, "not an id!", [START, ("train", {"step": 1, "epoch": 0,
                                                               "metrics": {"loss": 1.0}})])
    reg = registry
    a, b = import_run_dirs(reg, [tmp_path])
    assert (a.run.id, a.run.name, a.run.tags) == ("aa11bb22", "two-tries", ["a"])
    assert a.run.created == 1_700_000_000.0
    assert a.run.state == "finished" and a.run.step == 2 and a.run.latest_loss == 2.0
    assert [(x.number, x.state) for x in reg.list_attempts(a.run.id)] == [(1, "killed"), (2, "finished")]
    assert b.new_id and b.run.name == "not an id!" and b.run.run_dir == str(cut.resolve())
    assert b.run.state == "lost" and "without a finish event" in b.run.reason
    assert reg.metric_series(b.run.id, "train/loss").values == [1.0]
    assert twice.resolve() != cut.resolve()


def test_an_id_taken_by_another_run_gets_a_fresh_one(registry, tmp_path: Path) -> None:
    reg = registry
    reg.create_run("finetune", "demo", name="here-first", run_id="cc33dd44")
    d = _run_dir(tmp_path, "cc33dd44", [START, ("finish", {"step": 0, "status": "failed",
                                                            "reason": "OOM"})])
    (imp,) = import_run_dirs(reg, [d], name="renamed")
    assert imp.new_id and imp.run.id != "cc33dd44" and imp.run.name == "renamed"
    assert (imp.run.state, imp.run.reason) == ("failed", "OOM")
    assert reg.get_run("cc33dd44").name == "here-first"


def test_bad_input_is_refused_before_anything_is_written(registry, tmp_path: Path) -> None:
    _run_dir(tmp_path / "runs", "good0001", [START])
    bad = _run_dir(tmp_path / "runs", "bad00002", [START])
    (bad / "config.yaml").write_text("optim:\n  no_such_key: 1\n")
    reg = registry
    with pytest.raises(UserError, match=r"bad00002/config\.yaml"):
        import_run_dirs(reg, [tmp_path / "runs"])
    assert reg.count_runs() == 0
    with pytest.raises(UserError, match="no such directory"):
        import_run_dirs(reg, [tmp_path / "nope"])
    with pytest.raises(UserError, match="not a run dir and none inside it"):
        import_run_dirs(reg, [tmp_path])
    shutil.rmtree(bad)
    _run_dir(tmp_path / "runs", "good0003", [START])
    with pytest.raises(UserError, match="--name names one run"):
        import_run_dirs(reg, [tmp_path / "runs"], name="x")
    assert reg.count_runs() == 0
    assert len(import_run_dirs(reg, [tmp_path / "runs"])) == 2


def test_launch_writes_the_identity_file(runs_home: Path, rt) -> None:
    with open_registry() as reg:
        req = LaunchRequest(kind="finetune", task="demo", dataset="demo", name="idf", tags=["t"],
                            sets=rt.TINY)
        run = launch_run(reg, req, start=False)
        ident = json.loads((Path(run.run_dir) / RUN_FILE).read_text())
        assert (ident["id"], ident["name"], ident["tags"]) == (run.id, "idf", ["t"])
        assert ident["kind"] == "finetune"


def test_edits_reach_the_registry_and_run_json_so_an_import_keeps_them(runs_home: Path, rt, tmp_path) -> None:
    from clpbert.runs.run_dirs import edit_run

    with open_registry() as reg:
        req = LaunchRequest(kind="finetune", task="demo", dataset="demo", name="first", tags=["a", "b"],
                            sets=rt.TINY)
        run = launch_run(reg, req, start=False)
        edited = edit_run(reg, run.name, name="  better ", add_tags=["c", "a", "c"], remove_tags=["b"],
                          notes="lr too high")
        assert (edited.name, edited.tags, edited.notes) == ("better", ["a", "c"], "lr too high")
        assert reg.get_run(run.id).tags == ["a", "c"]
        with pytest.raises(UserError, match="has no tag 'zzz'; its tags: a, c"):
            edit_run(reg, run.id, remove_tags=["zzz"])
        with pytest.raises(UserError, match="cannot be empty"):
            edit_run(reg, run.id, name=" ")
        assert reg.get_run(run.id).name == "better"
        EventWriter(run.run_dir).start(0, world_size=1, total_steps=4, task="demo", attempt=1)
    other = open_registry(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        (imp,) = import_run_dirs(other, [run.run_dir])
        assert (imp.run.name, imp.run.tags, imp.run.notes) == ("better", ["a", "c"], "lr too high")
    finally:
        other.close()
