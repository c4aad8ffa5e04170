"""Two node ranks through the manager, for real: two `clpbert run finetune --nnodes 2 --node-rank R`
commands on one machine (CPU, gloo, static rendezvous on 127.0.0.1), each with its own home
(one SQLite registry per node), train one job equal to a one-node two-process torchrun; their rows
are linked as one job (clpbert.runs.job_link). The same with both nodes on one shared PostgreSQL
registry (the realistic setup), where `runs show` of either node shows both nodes' states."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
# frozen BN and no dropout: the math of 2 ranks x 2 videos does not depend on how ranks are placed
SAME_MATH = ["model.cnn_norm=frozen_bn", "model.hidden_dropout=0", "model.attention_dropout=0",
             "data.max_n_example_per_group=1", "optim.max_steps=3", "eval.valid_steps=3",
             "data.num_workers=0"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _home_with_demo(home: Path, demo_data: Path) -> None:
    env = {**os.environ, "CLPBERT_HOME": str(home)}
    code = ("from clpbert import paths\nfrom clpbert.registry import open_registry\n"
            "from clpbert.runs.service import register_dataset_dir\n"
            "paths.datasets_dir().mkdir(parents=True, exist_ok=True)\n"
            f"paths.dataset_dir('demo').symlink_to({str(demo_data)!r}, target_is_directory=True)\n"
            "with open_registry() as reg:\n"
            "    register_dataset_dir(reg, 'demo', paths.dataset_dir('demo'))\n")
    subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, check=True, timeout=120)


def _losses(run_dir: Path) -> dict[int, float]:
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    return {e["step"]: e["metrics"]["loss"] for e in events if e["event"] == "train"}


def _cli(home: Path, *argv: str, db_url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CLPBERT_HOME": str(home)}
    env.pop("CLPBERT_DB_URL", None)
    if db_url:
        env["CLPBERT_DB_URL"] = db_url
    proc = subprocess.run([sys.executable, "-m", "cli.app", *argv], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc


def _launch_two_nodes(runs_home: Path, node1_home: Path, settings: list[str], db_url: str | None = None
                      ) -> list[str]:
    """`clpbert run finetune ... --nnodes 2 --node-rank R` for R = 0, 1, each in its node's home
    (and its SQLite registry there, unless both share `db_url`)."""
    port = _free_port()
    sets = [f"--set={s}" for s in settings]
    ids = []
    for rank, home in ((0, runs_home), (1, node1_home)):
        env = {**os.environ, "CLPBERT_HOME": str(home), "OMP_NUM_THREADS": "1"}
        env.pop("CLPBERT_DB_URL", None)
        if db_url:
            env["CLPBERT_DB_URL"] = db_url
        argv = [sys.executable, "-m", "cli.app", "run", "finetune", "--task", "demo", "--dataset", "demo",
                *sets, "--nnodes", "2", "--node-rank", str(rank), "--rdzv-endpoint", f"127.0.0.1:{port}",
                "--json"]
        proc = subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        ids.append(json.loads(proc.stdout)["id"])
    return ids


def test_two_node_ranks_train_one_job_equal_to_one_node_with_two_processes(
        runs_home: Path, demo_data: Path, tmp_path: Path, rt) -> None:
    node1_home = tmp_path / "node1"
    _home_with_demo(node1_home, demo_data)
    ids = _launch_two_nodes(runs_home, node1_home, [*rt.TINY, *SAME_MATH])

    from clpbert.registry import open_registry

    finals = []
    for home, run_id in zip((runs_home, node1_home), ids, strict=True):
        with open_registry(f"sqlite:///{home / 'registry.db'}") as reg:
            def ended(reg=reg, run_id=run_id):  # type: ignore[no-untyped-def]
                run = reg.get_run(run_id)
                return run if run.state in ("finished", "failed", "killed", "lost") else None

            final = rt.wait_until(ended, 600, f"run {run_id} to end")
            finals.append(final)
    assert [f.state for f in finals] == ["finished", "finished"], [(f.state, f.reason) for f in finals]
    assert [f.nnodes for f in finals] == [2, 2]
    node0_dir = Path(finals[0].run_dir)
    two_nodes = _losses(node0_dir)
    assert sorted(two_nodes) == [1, 2, 3]
    assert _losses(Path(finals[1].run_dir)) == two_nodes  # node 1's run follows the same job
    # the rows say they are one job: node 0's run id, each node's rank, every node's run (rendezvous)
    host = socket.gethostname()
    assert [(f.job_id, f.node_rank) for f in finals] == [(ids[0], 0), (ids[0], 1)]
    nodes = [{"node_rank": rank, "run_id": run_id, "host": host} for rank, run_id in enumerate(ids)]
    assert [f.job_nodes for f in finals] == [nodes, nodes]
    # runs show of node 1 names node 0's run, whose state is in node 0's registry, and says so
    shown = _cli(node1_home, "runs", "show", ids[1]).stdout.splitlines()
    assert f"job {ids[0]}: 2 nodes" in shown
    assert ["0", ids[0], "unknown", "here", host] in [line.split()[:5] for line in shown], shown
    assert ["1", "(this", "run)", ids[1], "finished", host] in [line.split()[:6] for line in shown], shown
    note = f"note: node 0's run {ids[0]} is in another registry"
    assert any(line.startswith(note) for line in shown), shown
    listed = _cli(runs_home, "runs", "list").stdout.splitlines()
    assert listed[0].split()[6] == "JOB" and listed[1].split()[6:8] == [ids[0], "n0"], listed

    # the same config as one node with two processes
    single = tmp_path / "single"
    single.mkdir()
    (single / "config.yaml").write_text((node0_dir / "config.yaml").read_text())
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    argv = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
            "-m", "clpbert.train", "--config", str(single / "config.yaml")]
    proc = subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    one_node = _losses(single)
    assert one_node.keys() == two_nodes.keys()
    for step, loss in two_nodes.items():
        assert loss == pytest.approx(one_node[step], abs=1e-4), step


@contextlib.contextmanager
def _training_job(runs_home: Path, demo_data: Path, tmp_path: Path, rt):
    """A long 2-node job, each node with its own SQLite home, once both nodes have trained 2 steps:
    yields ([node 0 registry, node 1 registry], [node 0 run id, node 1 run id])."""
    from clpbert.registry import open_registry

    node1_home = tmp_path / "node1"
    _home_with_demo(node1_home, demo_data)
    ids = _launch_two_nodes(runs_home, node1_home, [*rt.TINY, "optim.max_steps=100000",
                                                    "eval.valid_steps=100000", "data.num_workers=0"])
    regs = [open_registry(f"sqlite:///{h / 'registry.db'}") for h in (runs_home, node1_home)]
    try:
        for reg, run_id in zip(regs, ids, strict=True):
            rt.wait_until(lambda reg=reg, run_id=run_id: reg.get_run(run_id).step >= 2, 300,
                          "both nodes training")
        yield regs, ids
    finally:
        for reg in regs:
            reg.close()


def test_stopping_node_0_stops_the_job_on_both_nodes(runs_home: Path, demo_data: Path, tmp_path: Path,
                                                     rt) -> None:
    from clpbert.runs.service import stop_run

    with _training_job(runs_home, demo_data, tmp_path, rt) as (regs, ids):
        stopped = stop_run(regs[0], ids[0], grace_s=120)
        node1 = rt.wait_until(lambda: (r := regs[1].get_run(ids[1])).state.terminal and r, 180,
                              "node 1's run to end after node 0's stop")
        assert stopped.state == "killed" and stopped.reason.startswith("stopped by user")
        assert node1.state != "finished" and node1.reason, (node1.state, node1.reason)
        assert node1.step == stopped.step  # the ranks agreed on the step to stop at


def test_killing_node_1s_trainer_fails_the_job_on_both_nodes(runs_home: Path, demo_data: Path, tmp_path: Path,
                                                            rt) -> None:
    import signal

    with _training_job(runs_home, demo_data, tmp_path, rt) as (regs, ids):
        trees = [rt.tree(reg.get_run(run_id).supervisor_pid) for reg, run_id in zip(regs, ids, strict=True)]
        workers = [p for p in trees[1] if "clpbert.train" in " ".join(p.cmdline())
                   and "torch.distributed.run" not in " ".join(p.cmdline())]
        assert workers, [p.cmdline() for p in trees[1]]
        for p in workers:
            p.send_signal(signal.SIGKILL)

        def ended(reg, run_id):  # type: ignore[no-untyped-def]
            return rt.wait_until(lambda: (r := reg.get_run(run_id)).state.terminal and r, 300,
                                 f"{run_id} to end")

        finals = [ended(reg, run_id) for reg, run_id in zip(regs, ids, strict=True)]
        assert [f.state for f in finals] == ["failed", "failed"], [(f.state, f.reason) for f in finals]
        assert all(f.reason for f in finals), [f.reason for f in finals]
        rt.wait_until(lambda: not rt.alive(trees[0] + trees[1]), 60, "every process of both nodes to exit")


@pytest.fixture
def pg_url() -> str:
    """CLPBERT_TEST_PG_URL with an emptied schema (as the suite's PostgreSQL registry tests use it)."""
    url = os.environ.get("CLPBERT_TEST_PG_URL")
    if not url:
        pytest.skip("CLPBERT_TEST_PG_URL not set (run `eval \"$(bash .ci/postgres.sh)\"` to test the two "
                    "nodes on one shared PostgreSQL registry)")
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url


def test_two_nodes_on_one_shared_postgresql_registry_show_the_whole_job(
        runs_home: Path, demo_data: Path, tmp_path: Path, pg_url: str, rt) -> None:
    from clpbert.registry import open_registry
    from clpbert.runs import procs
    from clpbert.runs.lifecycle import ACTIVE_STATES
    from clpbert.runs.service import register_dataset_dir

    node1_home = tmp_path / "node1"
    node1_home.mkdir()
    with open_registry(pg_url) as reg:
        register_dataset_dir(reg, "demo", demo_data)
        try:
            short = [*rt.TINY, "optim.max_steps=2", "eval.valid_steps=2", "data.num_workers=0"]
            ids = _launch_two_nodes(runs_home, node1_home, short, db_url=pg_url)
            finals = [rt.wait_until(lambda i=i: (r := reg.get_run(i)).state.terminal and r, 600,
                                    f"run {i} to end") for i in ids]
        finally:
            for run in reg.list_runs(state=list(ACTIVE_STATES)):
                if run.supervisor_pid:
                    procs.kill_tree(run.supervisor_pid)
        assert [f.state for f in finals] == ["finished", "finished"], [(f.state, f.reason) for f in finals]
        assert [(f.job_id, f.node_rank) for f in finals] == [(ids[0], 0), (ids[0], 1)]
        assert [r.id for r in reg.list_job_runs(ids[0])] == ids
        assert [Path(f.run_dir).parents[1] for f in finals] == [runs_home, node1_home]  # each node's dirs

    host = socket.gethostname()
    for run_id in ids:  # either node's run shows the whole job, both states from the one registry
        shown = _cli(node1_home, "runs", "show", run_id, db_url=pg_url).stdout.splitlines()
        assert f"job {ids[0]}: 2 nodes" in shown
        for rank, node_run in enumerate(ids):
            row = [str(rank), *(["(this", "run)"] if node_run == run_id else []), node_run, "finished", host]
            assert row in [line.split()[:len(row)] for line in shown], (row, shown)
        assert not any(line.startswith("note:") for line in shown), shown
    listed = _cli(runs_home, "runs", "list", db_url=pg_url).stdout.splitlines()
    assert [line.split()[0] for line in listed[1:3]] == ids, listed  # node 0 then node 1, together
    assert [line.split()[6:8] for line in listed[1:3]] == [[ids[0], "n0"], [ids[0], "n1"]], listed
