"""The node runs of a multi-node job find each other: the job fields a launch writes, the `job` event
the trainer's rendezvous writes (clpbert.train.job_announce, run for real in test_multinode.py) and
its ingestion, and what `runs show` / `runs list` and the TUI's view records make of them, with one
shared registry (both rows here) and with one SQLite file per node (the peer's row elsewhere).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from clpbert.app.job import NOT_LINKED, group_jobs, job_label, job_line, job_of
from clpbert.runs.ingest import Ingestor
from clpbert.runs.job_link import job_fields, node_entry, node_of_job, run_fields_of_event
from clpbert.runs.launch import Topology

REPO = Path(__file__).resolve().parents[2]
HOSTS = ("node-a", "node-b")


def _node_run(reg, tmp_path: Path, rank: int, job_id: str | None = None, name: str = ""):
    """A node run as launch_run creates it for --nnodes 2 --node-rank RANK."""
    run_id = f"{'ab' if rank == 0 else 'cd'}{abs(hash((str(tmp_path), rank, name))) % 10**6:06d}"
    fields = node_of_job(run_id, Topology(nnodes=2, node_rank=rank, rdzv_endpoint="127.0.0.1:29500"))
    if job_id is not None:
        fields["job_id"] = job_id
    return reg.create_run("finetune", "demo", name=name or f"node{rank}", nnodes=2, run_id=run_id,
                          run_dir=tmp_path / run_id, host=HOSTS[rank], **fields)


def _rendezvous(tmp_path: Path, *nodes) -> None:
    """What each node's trainer writes at the rendezvous, ingested by the node's supervisor into the
    node's registry: `nodes` are (registry, run) pairs."""
    entries = [{"node_rank": r.node_rank, "run_id": r.id, "host": HOSTS[r.node_rank]} for _, r in nodes]
    for reg, run in nodes:
        d = tmp_path / run.id
        d.mkdir(parents=True, exist_ok=True)
        event = {"event": "job", "time": 1.0, **job_fields(entries * 2, run.node_rank)}  # 2 ranks per node
        (d / "events.jsonl").write_text(json.dumps(event) + "\n")
        Ingestor(reg, run.id, d).poll()


def _cli(url: str, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CLPBERT_DB_URL": url}
    return subprocess.run([sys.executable, "-m", "cli.app", *argv], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=120)


def test_launch_fields_node_0_is_the_job_and_the_others_learn_it_at_the_rendezvous() -> None:
    assert node_of_job("aaaa0000", Topology()) == {}
    assert node_of_job("aaaa0000", Topology(2, 0, "h:1")) == {"node_rank": 0, "job_id": "aaaa0000"}
    assert node_of_job("bbbb1111", Topology(2, 1, "h:1")) == {"node_rank": 1, "job_id": None}


def test_rendezvous_entries_make_one_job_event_per_node() -> None:
    env = {"GROUP_RANK": "1", "RANK": "3", "LOCAL_WORLD_SIZE": "2", "CLPBERT_RUN_ID": "bbbb1111"}
    assert node_entry(env)["node_rank"] == 1 and node_entry(env)["run_id"] == "bbbb1111"
    assert node_entry({"RANK": "3", "LOCAL_WORLD_SIZE": "2"})["node_rank"] == 1  # without GROUP_RANK
    entries = [{"node_rank": 1, "run_id": "bbbb1111", "host": "b"}, {"node_rank": 0, "run_id": "aaaa0000",
                                                                      "host": "a"}] * 2
    fields = job_fields(entries, 1)
    assert fields == {"job_id": "aaaa0000", "node_rank": 1,
                      "nodes": [{"node_rank": 0, "run_id": "aaaa0000", "host": "a"},
                                {"node_rank": 1, "run_id": "bbbb1111", "host": "b"}]}
    assert job_fields([{"node_rank": 1, "run_id": "bbbb1111"}], 1) is None  # no node 0: nothing to link to
    assert run_fields_of_event({"event": "job", **fields})["job_nodes"] == fields["nodes"]
    assert run_fields_of_event({"event": "job", "job_id": 3, "node_rank": 1, "nodes": []}) == {}


def test_one_shared_registry_shows_the_whole_job_from_either_node(registry, registry_url: str,
                                                                  tmp_path: Path) -> None:
    reg = registry
    other = reg.create_run("finetune", "demo", name="single")
    node0 = _node_run(reg, tmp_path, 0)
    node1 = _node_run(reg, tmp_path, 1)
    assert (node0.job_id, node0.node_rank) == (node0.id, 0)
    assert (node1.job_id, node1.node_rank) == (None, 1)
    assert job_label(node1) == "? n1" and job_of(reg, node1).note == NOT_LINKED  # before the rendezvous
    later = reg.create_run("finetune", "demo", name="later")

    _rendezvous(tmp_path, (reg, node0), (reg, node1))
    node0, node1 = reg.get_run(node0.id), reg.get_run(node1.id)
    assert node1.job_id == node0.id and node1.node_rank == 1
    assert [n["run_id"] for n in node1.job_nodes] == [node0.id, node1.id]
    assert [r.id for r in reg.list_job_runs(node0.id)] == [node0.id, node1.id]
    reg.set_run_state(node0.id, "running")
    for run in (node0, node1):
        view = job_of(reg, reg.get_run(run.id))
        assert [(n.node_rank, n.run_id, n.host) for n in view.nodes] == [(0, node0.id, "node-a"),
                                                                         (1, node1.id, "node-b")]
        assert [n.state for n in view.nodes] == ["running", "queued"] and view.note is None
        assert [n.this_run for n in view.nodes] == [run.id == node0.id, run.id == node1.id]
    assert job_label(node1) == f"{node0.id} n1" and job_label(other) == "-"
    assert "node 1 this run queued on node-b" in job_line(job_of(reg, node1))

    # listings: by job, the node runs of a job together by node rank, one-node runs last
    assert [r.id for r in reg.list_runs(order="-job_id")][:2] == [node0.id, node1.id]
    assert [r.id for r in group_jobs(reg.list_runs(order="created"))] == [other.id, node0.id, node1.id,
                                                                          later.id]
    if registry_url.startswith("sqlite"):
        from clpbert.registry.reader import RegistryReader, open_reader

        with open_reader(registry_url) as reader:
            assert isinstance(reader, RegistryReader)
            assert reader.list_runs(order="-job_id") == reg.list_runs(order="-job_id")
            assert reader.list_job_runs(node0.id) == reg.list_job_runs(node0.id)
            assert reader.get_run(node1.id) == reg.get_run(node1.id)

    shown = _cli(registry_url, "runs", "show", node1.id)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert f"job {node0.id}: 2 nodes" in lines
    assert any(line.split()[:4] == ["0", node0.id, "running", "node-a"] for line in lines), shown.stdout
    assert any(line.split()[:6] == ["1", "(this", "run)", node1.id, "queued", "node-b"] for line in lines)
    assert "note:" not in shown.stdout
    detail = json.loads(_cli(registry_url, "runs", "show", node0.id, "--json").stdout)
    assert detail["job"]["job_id"] == node0.id and detail["job"]["note"] is None
    assert [n["state"] for n in detail["job"]["nodes"]] == ["running", "queued"]
    listed = _cli(registry_url, "runs", "list").stdout.splitlines()
    assert listed[0].split()[6] == "JOB"
    jobs = [line.split()[0] for line in listed if f"{node0.id} n" in line]
    assert jobs == [node0.id, node1.id]  # adjacent, node 0 first
    assert listed.index(next(x for x in listed if x.startswith(node1.id))) == \
        listed.index(next(x for x in listed if x.startswith(node0.id))) + 1


def test_with_one_registry_per_node_the_peer_is_named_but_its_state_is_unknown(clpbert_home: Path,
                                                                                tmp_path: Path) -> None:
    from clpbert.registry import open_registry

    urls = [f"sqlite:///{tmp_path / f'node{r}.db'}" for r in (0, 1)]
    with open_registry(urls[0]) as reg0, open_registry(urls[1]) as reg1:
        node0 = _node_run(reg0, tmp_path, 0)
        node1 = _node_run(reg1, tmp_path, 1)
        _rendezvous(tmp_path, (reg0, node0), (reg1, node1))
        view = job_of(reg1, reg1.get_run(node1.id))
        assert [n["run_id"] for n in reg0.get_run(node0.id).job_nodes] == [node0.id, node1.id]
    assert view.job_id == node0.id
    assert [(n.run_id, n.host, n.state) for n in view.nodes] == [(node0.id, "node-a", None),
                                                                 (node1.id, "node-b", "queued")]
    assert f"node 0's run {node0.id} is in another registry" in view.note

    shown = _cli(urls[1], "runs", "show", node1.id)
    assert shown.returncode == 0, shown.stderr
    assert any(line.split()[:5] == ["0", node0.id, "unknown", "here", "node-a"]
               for line in shown.stdout.splitlines()), shown.stdout
    assert f"note: node 0's run {node0.id} is in another registry" in shown.stdout
    assert "unknown here" not in _cli(urls[1], "runs", "list").stdout  # the list shows the job, not states


@pytest.mark.parametrize("rank", [0, 1])
def test_a_node_run_before_the_rendezvous_says_it_is_not_linked_yet(clpbert_home: Path, tmp_path: Path,
                                                                   rank: int) -> None:
    from clpbert.registry import open_registry

    with open_registry() as reg:
        run = _node_run(reg, tmp_path, rank)
        view = job_of(reg, run)
    assert view.note == NOT_LINKED
    assert [n.run_id for n in view.nodes] == ([run.id, None] if rank == 0 else [None, run.id])


def test_a_registry_at_0004_keeps_its_runs_through_0005_and_back(registry_url: str) -> None:
    """The migration adds the three columns (old runs: not node runs) and its downgrade removes them."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine, inspect, text

    from clpbert.registry import open_registry
    from clpbert.registry.revisions import MIGRATIONS_DIR

    engine = create_engine(registry_url)

    def migrate(to: str, down: bool = False) -> None:
        with engine.begin() as conn:
            cfg = Config()
            cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
            cfg.attributes["connection"] = conn
            (command.downgrade if down else command.upgrade)(cfg, to)

    try:
        migrate("0004")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO runs (id, name, kind, task, dataset, config, state, host, "
                              "gpus, nnodes, created, tags, notes, run_dir, step) VALUES ('0ld0ld00', "
                              "'old', 'finetune', 'demo', '', '{}', 'finished', 'h', '[]', 2, 1.0, '[]', "
                              "'', '', 3)"))
        with open_registry(registry_url) as reg:  # migrates to the head
            old = reg.get_run("0ld0ld00")
            assert (old.job_id, old.node_rank, old.job_nodes) == (None, None, None)
            assert (old.nnodes, old.step) == (2, 3)
            assert job_of(reg, old) is None and job_label(old) == "-"
        migrate("0004", down=True)
        columns = {c["name"] for c in inspect(engine).get_columns("runs")}
        assert "step" in columns and not {"job_id", "node_rank", "job_nodes"} & columns
        with engine.connect() as conn:
            assert conn.execute(text("SELECT step FROM runs WHERE id = '0ld0ld00'")).scalar_one() == 3
    finally:
        engine.dispose()
