"""The registry service layer, run against SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from clpbert.errors import NotFoundError, UserError
from clpbert.registry import GpusBusyError, RunState
from clpbert.registry import metric_queries as q

# ---------------------------------------------------------------- datasets


def test_add_dataset_upserts_by_name_keeping_id(registry):
    a = registry.add_dataset("msrvtt", format="msrvtt_qa", task="msrvtt_qa", txt_db="/d/txt",
                             vis_db="/d/vis", splits={"train": 10, "val": 2}, fingerprint="f1")
    b = registry.add_dataset("msrvtt", format="msrvtt_qa", task="msrvtt_qa", txt_db="/d/txt2",
                             splits={"train": 11}, fingerprint="f2")
    assert b.id == a.id and b.created == a.created
    got = registry.get_dataset("msrvtt")
    assert got.txt_db == "/d/txt2" and got.splits == {"train": 11} and got.fingerprint == "f2"
    registry.add_dataset("demo", task="demo")
    assert [d.name for d in registry.list_datasets()] == ["demo", "msrvtt"]
    assert [d.name for d in registry.list_datasets(task="demo")] == ["demo"]


def test_unknown_dataset_names_the_listing_command(registry):
    with pytest.raises(NotFoundError, match="clpbert datasets list"):
        registry.get_dataset("nope")
    registry.add_dataset("gone")
    assert registry.remove_dataset("gone").name == "gone"
    with pytest.raises(NotFoundError):
        registry.remove_dataset("gone")


def test_dataset_name_must_be_a_path_component(registry):
    with pytest.raises(UserError, match="invalid dataset name"):
        registry.add_dataset("../etc")


# ---------------------------------------------------------------- checkpoints


def test_checkpoint_found_by_name_id_or_path(registry, tmp_path: Path):
    f = tmp_path / "model.pt"
    f.write_bytes(b"x" * 123)
    ck = registry.add_checkpoint(f, kind="pretrained", source="http://x", sha256="ab")
    assert ck.name == "model" and ck.size == 123 and ck.path == str(f)
    assert registry.get_checkpoint("model") == ck
    assert registry.get_checkpoint(str(ck.id)) == ck
    assert registry.get_checkpoint(str(f)) == ck
    with pytest.raises(UserError, match="already registered"):
        registry.add_checkpoint(f)
    again = registry.add_checkpoint(f, kind="bert", replace=True)
    assert again.id == ck.id and again.kind == "bert"
    assert registry.remove_checkpoint("model").id == ck.id
    with pytest.raises(NotFoundError, match="clpbert ckpts list"):
        registry.get_checkpoint("model")


def test_checkpoint_kind_is_checked(registry, tmp_path: Path):
    with pytest.raises(UserError, match="unknown checkpoint kind"):
        registry.add_checkpoint(tmp_path / "a.pt", kind="weird")


def test_checkpoint_survives_its_run_deletion(registry, tmp_path: Path):
    run = registry.create_run("finetune", "msrvtt_qa")
    ck = registry.add_checkpoint(tmp_path / "s.pt", name="s", run_id=run.id, step=100)
    assert registry.list_checkpoints(run_id=run.id) == [ck]
    registry.delete_run(run.id)
    assert registry.get_checkpoint("s").run_id is None


# ---------------------------------------------------------------- runs


def test_create_and_get_run_by_prefix_or_name(registry):
    run = registry.create_run("finetune", "msrvtt_qa", dataset="msrvtt", name="first",
                              config={"optim": {"lr": 1e-4}}, tags=["a"], gpus=[0, (1, "GPU-x")])
    assert len(run.id) == 8 and run.state is RunState.QUEUED
    assert run.run_dir.endswith(f"runs/{run.id}")
    assert run.gpus == [{"index": 0, "uuid": None}, {"index": 1, "uuid": "GPU-x"}]
    assert registry.get_run(run.id[:3]).config == {"optim": {"lr": 1e-4}}
    assert registry.get_run("first").id == run.id
    with pytest.raises(NotFoundError, match="clpbert runs list"):
        registry.get_run("zzzzzz")


def test_ambiguous_prefix_is_a_user_error(registry):
    registry.create_run("eval", "t", run_id="abc00001")
    registry.create_run("eval", "t", run_id="abc00002")
    with pytest.raises(UserError, match="ambiguous"):
        registry.get_run("abc")
    assert registry.get_run("abc00002").id == "abc00002"


def test_bad_kind_and_duplicate_id_are_user_errors(registry):
    with pytest.raises(UserError, match="unknown run kind"):
        registry.create_run("train", "t")
    registry.create_run("eval", "t", run_id="dup00001")
    with pytest.raises(UserError, match="already exists"):
        registry.create_run("eval", "t", run_id="dup00001")


def test_list_runs_filters_orders_and_pages(registry):
    ids = []
    for i in range(6):
        r = registry.create_run("finetune", "qa" if i % 2 else "ret", name=f"run{i}",
                                tags=["Sweep"] if i < 3 else [])
        ids.append(r.id)
    registry.set_run_state(ids[0], "running")
    assert [r.id for r in registry.list_runs()] == ids[::-1]
    assert [r.id for r in registry.list_runs(order="created")] == ids
    assert [r.name for r in registry.list_runs(order="name", limit=2, offset=1)] == ["run1", "run2"]
    assert {r.id for r in registry.list_runs(task="qa")} == {ids[1], ids[3], ids[5]}
    assert [r.id for r in registry.list_runs(state="running")] == [ids[0]]
    assert registry.count_runs(state=["queued", "running"]) == 6
    assert {r.id for r in registry.list_runs(text="sweep")} == set(ids[:3])
    assert registry.count_runs(text="RUN4") == 1
    assert all(r.config == {} for r in registry.list_runs())
    with pytest.raises(UserError, match="cannot order runs"):
        registry.list_runs(order="bogus")
    with pytest.raises(UserError, match="unknown run state"):
        registry.list_runs(state="sleeping")


def test_update_run_fields_and_rejects_unknown(registry):
    run = registry.create_run("pretrain", "pretrain")
    up = registry.update_run(run.id, supervisor_pid=42, total_steps=1000, notes="n",
                             best_metric_value=math.nan)
    assert (up.supervisor_pid, up.total_steps, up.notes, up.best_metric_value) == (42, 1000, "n", None)
    with pytest.raises(TypeError):
        registry.update_run(run.id, colour="red")
    with pytest.raises(NotFoundError):
        registry.update_run("nope0000", notes="x")


def test_state_transitions_set_timestamps_and_compare_and_set(registry):
    run = registry.create_run("finetune", "t")
    assert registry.set_run_state(run.id, "running", now=100.0)
    assert registry.set_run_state(run.id, "running", now=200.0)
    r = registry.get_run(run.id)
    assert r.started == 100.0 and r.ended is None
    # a racing reconciler must not overwrite a state it did not expect
    assert not registry.set_run_state(run.id, "lost", only_from=["queued"])
    assert registry.get_run(run.id).state is RunState.RUNNING
    assert registry.set_run_state(run.id, "killed", reason="SIGTERM by user", exit_code=-15, signal=15,
                                  only_from=["running", "stopping"], now=300.0)
    r = registry.get_run(run.id)
    assert (r.state, r.reason, r.signal, r.ended) == (RunState.KILLED, "SIGTERM by user", 15, 300.0)
    assert r.state.terminal
    with pytest.raises(NotFoundError):
        registry.set_run_state("nope0000", "failed")


def test_delete_run_cascades(registry):
    run = registry.create_run("finetune", "t")
    registry.add_metrics(run.id, [(1, "loss", 1.0, 1.0)])
    registry.add_eval(run.id, 1, "val", {"acc": 0.1})
    registry.start_attempt(run.id)
    registry.reserve_gpus(run.id, [0])
    registry.add_gpu_samples([{"gpu_uuid": "GPU-0", "run_id": run.id, "time": 1.0}])
    registry.delete_run(run.id)
    assert registry.count_runs() == 0
    assert registry.metrics_since(run.id) == []
    assert registry.list_evals(run.id) == [] and registry.list_attempts(run.id) == []
    assert registry.reserved_gpus() == [] and registry.gpu_series("GPU-0") == []


# ---------------------------------------------------------------- attempts


def test_attempts_are_numbered_and_ended(registry):
    run = registry.create_run("finetune", "t")
    a1 = registry.start_attempt(run.id, now=1.0)
    registry.end_attempt(run.id, "failed", exit_code=1, reason="OOM", now=2.0)
    a2 = registry.start_attempt(run.id, resumed_from="checkpoints/step_000100.pt", now=3.0)
    assert (a1.number, a2.number) == (1, 2)
    ended = registry.end_attempt(run.id, "finished", exit_code=0, now=4.0)
    assert ended.number == 2 and ended.ended == 4.0
    got = registry.list_attempts(run.id)
    assert [(a.number, a.state, a.exit_code) for a in got] == [(1, "failed", 1), (2, "finished", 0)]
    assert got[1].resumed_from == "checkpoints/step_000100.pt"
    other = registry.create_run("finetune", "t")
    with pytest.raises(NotFoundError):
        registry.end_attempt(other.id, "failed")


# ---------------------------------------------------------------- metrics


def test_add_metrics_updates_latest_run_step_and_loss(registry):
    run = registry.create_run("finetune", "t")
    n = registry.add_metrics(run.id, [(s, "loss", 10.0 - s, 100.0 + s) for s in range(10)]
                             + [(5, "lr", 0.1, 105.0)])
    assert n == 11
    r = registry.get_run(run.id)
    assert (r.step, r.latest_loss) == (9, 1.0)
    # an out-of-order (older) batch counts points but does not move the latest value back
    registry.add_metrics(run.id, [(3, "loss", 99.0, 1.0)])
    latest = registry.latest_metrics(run.id)
    assert (latest["loss"].step, latest["loss"].value, latest["loss"].count) == (9, 1.0, 11)
    assert registry.get_run(run.id).step == 9
    assert registry.metric_names(run.id) == ["loss", "lr"]


def test_nan_round_trips(registry):
    run = registry.create_run("finetune", "t")
    registry.add_metrics(run.id, [(1, "loss", float("nan"), 1.0), (2, "loss", float("inf"), 2.0)])
    s = registry.metric_series(run.id, "loss")
    assert math.isnan(s.values[0]) and s.values[1] == math.inf
    assert registry.latest_metrics(run.id)["loss"].value == math.inf


def test_add_metrics_to_unknown_run(registry):
    with pytest.raises(NotFoundError, match="clpbert runs list"):
        registry.add_metrics("nope0000", [(1, "loss", 1.0, 1.0)])
    assert registry.add_metrics("nope0000", []) == 0


def test_metric_series_full_and_downsampled(registry, monkeypatch: pytest.MonkeyPatch):
    run = registry.create_run("finetune", "t")
    registry.add_metrics(run.id, [(s, "loss", float(s % 100), 0.0) for s in range(10_000)])
    full = registry.metric_series(run.id, "loss")
    assert not full.downsampled and full.steps == list(range(10_000))
    ds = registry.metric_series(run.id, "loss", max_points=100)
    assert ds.downsampled and len(ds.steps) == 100 and ds.total_points == 10_000
    assert ds.steps == sorted(ds.steps) and ds.steps[-1] == 9999
    assert ds.mins[0] == 0.0 and ds.maxs[0] == 99.0 and ds.values[0] == pytest.approx(49.5)
    zoom = registry.metric_series(run.id, "loss", max_points=50, min_step=1000, max_step=1999)
    assert zoom.total_points == 1000 and zoom.steps[0] >= 1000 and zoom.steps[-1] == 1999
    # above the exact limit the buckets come from index seeks: same shape, approximate values
    monkeypatch.setattr(q, "EXACT_DOWNSAMPLE_LIMIT", 10)
    sampled = registry.metric_series(run.id, "loss", max_points=100)
    assert sampled.downsampled and len(sampled.steps) == 100
    assert sampled.steps == sorted(sampled.steps)
    assert all(lo <= v <= hi for lo, v, hi in zip(sampled.mins, sampled.values, sampled.maxs, strict=True))
    assert registry.metric_series(run.id, "nothing", max_points=10).steps == []


def test_metrics_since_is_incremental(registry):
    run = registry.create_run("finetune", "t")
    other = registry.create_run("finetune", "t")
    registry.add_metrics(run.id, [(1, "loss", 1.0, 1.0), (1, "lr", 0.1, 1.0)])
    registry.add_metrics(other.id, [(1, "loss", 5.0, 1.0)])
    first = registry.metrics_since(run.id)
    assert [(m.name, m.value) for m in first] == [("loss", 1.0), ("lr", 0.1)]
    registry.add_metrics(run.id, [(2, "loss", 0.5, 2.0)])
    new = registry.metrics_since(run.id, first[-1].id)
    assert [(m.step, m.value) for m in new] == [(2, 0.5)]
    assert registry.metrics_since(run.id, 0, names=["lr"])[0].name == "lr"
    assert len(registry.metrics_since(run.id, limit=1)) == 1


# ---------------------------------------------------------------- evals


def test_evals_listed_by_step_and_latest(registry):
    run = registry.create_run("finetune", "t")
    registry.add_eval(run.id, 200, "val", {"acc": 0.6})
    registry.add_eval(run.id, 100, "val", {"acc": 0.5, "acc/what": 0.4})
    registry.add_eval(run.id, 150, "test", {"acc": 0.55})
    assert [e.step for e in registry.list_evals(run.id)] == [100, 150, 200]
    assert registry.latest_eval(run.id).metrics == {"acc": 0.6}
    assert registry.latest_eval(run.id, "test").step == 150
    assert registry.latest_eval(registry.create_run("eval", "t").id) is None
    with pytest.raises(NotFoundError):
        registry.add_eval("nope0000", 1, "val", {})


# ---------------------------------------------------------------- GPU samples and reservations


def test_gpu_samples_latest_and_series(registry):
    from clpbert.registry import GpuSample

    registry.add_gpu_samples([GpuSample("GPU-a", 1.0, 0, util=10.0), GpuSample("GPU-a", 2.0, 0, util=20.0),
                              {"gpu_uuid": "GPU-b", "gpu_index": 1, "time": 1.5, "power": None}])
    latest = registry.latest_gpu_samples()
    assert latest["GPU-a"].util == 20.0 and latest["GPU-b"].power is None
    assert set(registry.latest_gpu_samples(["GPU-b", "GPU-c"])) == {"GPU-b"}
    assert [s.time for s in registry.gpu_series("GPU-a")] == [1.0, 2.0]
    assert [s.time for s in registry.gpu_series("GPU-a", limit=1)] == [2.0]
    assert registry.prune_gpu_samples(before=1.8) == 2
    assert [s.gpu_uuid for s in registry.latest_gpu_samples().values()] == ["GPU-a"]


def test_reservations_are_all_or_nothing(registry):
    a = registry.create_run("finetune", "t")
    b = registry.create_run("finetune", "t")
    got = registry.reserve_gpus(a.id, [(0, "GPU-0"), (1, "GPU-1")], host="h1")
    assert [r.gpu_key for r in got] == ["GPU-0", "GPU-1"]
    assert len(registry.reserve_gpus(a.id, [(0, "GPU-0")], host="h1")) == 1  # idempotent for the holder
    with pytest.raises(GpusBusyError) as err:
        registry.reserve_gpus(b.id, [(1, "GPU-1"), (2, "GPU-2")], host="h1")
    assert err.value.holders == {"GPU-1": a.id}
    assert {r.gpu_key for r in registry.reserved_gpus(host="h1")} == {"GPU-0", "GPU-1"}  # GPU-2 not taken
    assert registry.reserve_gpus(b.id, [(1, "GPU-1")], host="h2")[0].host == "h2"  # other host: free
    assert registry.release_gpus(a.id) == 2
    assert registry.reserve_gpus(b.id, [(1, "GPU-1")], host="h1")[0].run_id == b.id


def test_a_tag_filter_matches_whole_tags_only(registry):
    def run(name: str, tags: list[str]) -> str:
        return registry.create_run("finetune", "qa", name=name, tags=tags).id

    sweep = run("a", ["lr-sweep", "keep"])
    longer = run("b", ["lr-sweep-2"])
    odd = run("c", ['50%_"done"', "größe"])
    run("d", [])
    assert [r.id for r in registry.list_runs(tag="lr-sweep")] == [sweep]  # not lr-sweep-2
    assert registry.count_runs(tag="lr-sweep") == 1
    assert [r.id for r in registry.list_runs(tag="lr-sweep-2")] == [longer]
    assert [r.id for r in registry.list_runs(tag="keep", task="qa")] == [sweep]
    assert [r.id for r in registry.list_runs(tag='50%_"done"')] == [odd]  # LIKE wildcards, quotes
    assert [r.id for r in registry.list_runs(tag="größe")] == [odd]  # non-ASCII on either backend
    assert registry.list_runs(tag="50") == [] and registry.list_runs(tag="sweep") == []
