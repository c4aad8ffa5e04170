"""The light sqlite3 reader answers every read exactly as the SQLAlchemy registry does."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from clpbert.errors import NotFoundError, UserError
from clpbert.registry.reader import RegistryReader, open_reader

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def filled(clpbert_home: Path):
    """Datasets, checkpoints and runs in every shape the read commands meet (NaN, tags, states)."""
    from clpbert.registry import open_registry

    reg = open_registry()
    reg.add_dataset("tgif-transition", task="tgif_qa_transition", format="tgif_qa", splits={"train": 3})
    reg.add_dataset("msrvtt", task="msrvtt_qa", format="msrvtt_qa", splits={"train": 5, "val": 2})
    a = reg.create_run("finetune", "msrvtt_qa", dataset="msrvtt", name="alpha", total_steps=100,
                       tags=["héllo", "100%_done"], gpus=[(0, "GPU-a"), 1], config={"lr": 1e-4})
    reg.set_run_state(a.id, "running")
    reg.start_attempt(a.id)
    reg.add_metrics(a.id, [(s, "loss", 1.0 / (s + 1), 0.0) for s in range(20)])
    reg.add_metrics(a.id, [(20, "gnorm", math.nan, 0.0)])
    reg.add_eval(a.id, 10, "val", {"acc": 0.25})
    reg.add_eval(a.id, 20, "val", {"acc": 0.5})
    reg.add_eval(a.id, 20, "test", {"acc": 0.4})
    b = reg.create_run("eval", "msrvtt_ret", name="beta", notes="Sweep over LR")
    reg.set_run_state(b.id, "failed", reason="boom", exit_code=1)
    c = reg.create_run("pretrain", "pretrain", name="alpha-2", run_id=a.id[:4] + "ffff")
    weights = clpbert_home / "w.pt"
    weights.write_bytes(b"x" * 10)
    reg.add_checkpoint(weights, name="w", kind="pretrained")
    reg.add_checkpoint(weights, name="w-run", run_id=a.id, step=20)
    yield reg, (a, b, c), weights
    reg.close()


LISTINGS = [{}, {"state": "running"}, {"state": ["failed", "queued"]}, {"task": "msrvtt_qa"},
            {"kind": "eval"}, {"text": "ALPHA"}, {"text": "sweep"}, {"text": "100%"}, {"tag": "héllo"},
            {"tag": "100%_done"}, {"tag": "100"}, {"order": "name"},
            {"order": "-step", "limit": 1, "offset": 1}, {"limit": 2}, {"with_config": True},
            {"order": "best_metric_value"}]


def test_reader_lists_and_counts_runs_like_the_registry(filled):
    reg, _, _ = filled
    with open_reader() as reader:
        assert isinstance(reader, RegistryReader)
        for kwargs in LISTINGS:
            assert reader.list_runs(**kwargs) == reg.list_runs(**kwargs), kwargs
            filters = {k: v for k, v in kwargs.items() if k in ("state", "task", "kind", "text", "tag")}
            assert reader.count_runs(**filters) == reg.count_runs(**filters), kwargs
        for bad in ({"order": "config"}, {"state": "sleeping"}):
            with pytest.raises(UserError):
                reader.list_runs(**bad)


def test_reader_finds_runs_by_id_prefix_and_name_with_the_same_errors(filled):
    reg, (a, b, _), _ = filled
    with open_reader() as reader:
        for ref in (a.id, b.id[:5], "beta", f" {a.id} "):
            assert reader.get_run(ref) == reg.get_run(ref)
        for ref in (a.id[:4], "nope", ""):
            with pytest.raises(UserError) as theirs:
                reg.get_run(ref)
            with pytest.raises(type(theirs.value)) as ours:
                reader.get_run(ref)
            assert str(ours.value) == str(theirs.value)


def test_reader_run_detail_datasets_and_checkpoints_equal_the_registry(filled):
    reg, (a, b, _), weights = filled
    with open_reader() as reader:
        for run_id in (a.id, b.id):
            assert reader.list_attempts(run_id) == reg.list_attempts(run_id)
            assert ({k: v.to_dict() for k, v in reader.latest_metrics(run_id).items()}
                    == {k: v.to_dict() for k, v in reg.latest_metrics(run_id).items()})
            for split in (None, "val", "test"):
                assert reader.list_evals(run_id, split) == reg.list_evals(run_id, split)
                assert reader.latest_eval(run_id, split) == reg.latest_eval(run_id, split)
        assert math.isnan(reader.latest_metrics(a.id)["gnorm"].value)
        for task in (None, "msrvtt_qa"):
            assert reader.list_datasets(task) == reg.list_datasets(task)
        assert reader.get_dataset("msrvtt") == reg.get_dataset("msrvtt")
        for kwargs in ({}, {"kind": "pretrained"}, {"run_id": a.id}):
            assert reader.list_checkpoints(**kwargs) == reg.list_checkpoints(**kwargs)
        for ref in ("w", str(reg.get_checkpoint("w-run").id), str(weights)):
            assert reader.get_checkpoint(ref) == reg.get_checkpoint(ref)
        with pytest.raises(NotFoundError):
            reader.get_dataset("nope")
        with pytest.raises(NotFoundError):
            reader.get_checkpoint("nope")


def test_open_reader_falls_back_to_the_registry_where_it_cannot_read(clpbert_home: Path):
    from clpbert.registry.queries import Registry

    # no file yet: the full registry creates it (and a reader opens it from then on)
    first = open_reader()
    assert isinstance(first, Registry) and (clpbert_home / "registry.db").is_file()
    first.close()
    with open_reader() as reader:
        assert isinstance(reader, RegistryReader)
    # a URL with options is not a plain file path: the registry handles it
    with open_reader(f"sqlite:///{clpbert_home / 'registry.db'}?timeout=5") as reg:
        assert isinstance(reg, Registry)


def test_reader_refuses_a_newer_schema(clpbert_home: Path):
    import sqlite3

    from clpbert.registry import open_registry

    open_registry().close()
    con = sqlite3.connect(clpbert_home / "registry.db")
    con.execute("UPDATE alembic_version SET version_num = '0999'")
    con.commit()
    con.close()
    with pytest.raises(UserError, match="newer clpbert"):
        open_reader()


def test_reading_imports_no_sqlalchemy(filled):
    code = ("import sys\nfrom clpbert.registry.reader import open_reader\n"
            "with open_reader() as r:\n    r.list_runs(); r.get_run('beta'); r.list_datasets()\n"
            "print(type(r).__name__, 'sqlalchemy' in sys.modules)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["RegistryReader", "False"]


@pytest.mark.postgres
@pytest.mark.skipif(not os.environ.get("CLPBERT_TEST_PG_URL"), reason="CLPBERT_TEST_PG_URL not set")
def test_read_commands_work_on_postgresql(clpbert_home: Path):
    from tests.conftest import reset_pg

    url = os.environ["CLPBERT_TEST_PG_URL"]
    reset_pg(url)
    from clpbert.registry import open_registry
    from clpbert.registry.queries import Registry

    with open_registry(url) as reg:
        run = reg.create_run("finetune", "demo", name="pg-run", state="finished")
        reg.add_dataset("tgif-transition", task="tgif_qa_transition")
    with open_reader(url) as reader:
        assert isinstance(reader, Registry)  # one API: PostgreSQL reads go through SQLAlchemy
    env = {**os.environ, "CLPBERT_HOME": str(clpbert_home), "CLPBERT_DB_URL": url}
    for argv, expected in ((["runs", "list"], run.id), (["runs", "show", "pg-run"], run.id),
                           (["datasets", "list"], "tgif_qa_transition"), (["ckpts", "list", "--json"], "[]")):
        proc = subprocess.run([sys.executable, "-m", "cli.app", *argv], capture_output=True, text=True,
                              env=env, cwd=REPO, timeout=120)
        assert proc.returncode == 0 and expected in proc.stdout, (argv, proc.stderr)
