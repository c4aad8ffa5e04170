"""The application layer's compare and export: one implementation behind `clpbert runs compare|export`
and the TUI's compare screen."""

from __future__ import annotations

import csv
import io
import json

import pytest

from clpbert.app.compare import compare_data, config_differences, flatten_config, runs_with_tag
from clpbert.app.export import export_csv, export_data, export_json
from clpbert.errors import UserError


def test_config_differences_compare_values_as_json():
    configs = {"a": {"optim": {"lr": 1e-4, "betas": [0.9, 0.98]}, "seed": 1},
               "b": {"optim": {"lr": 3e-4, "betas": (0.9, 0.98)}, "seed": 1}}
    assert flatten_config(configs["a"]) == {"optim.lr": 1e-4, "optim.betas": [0.9, 0.98], "seed": 1}
    assert config_differences(configs) == {"optim.lr": {"a": 1e-4, "b": 3e-4}}  # a tuple equals its list
    assert set(config_differences(configs, all_keys=True)) == {"optim.betas", "optim.lr", "seed"}


def test_both_front_ends_use_the_same_functions():
    from cli import runs_manage
    from tui.screens import compare as tui_compare

    assert tui_compare.config_differences is config_differences
    assert runs_manage.compare_data is compare_data and runs_manage.export_data is export_data


@pytest.fixture
def two_runs(registry):
    ids = []
    for lr, loss in ((1e-3, 1.0), (3e-4, float("inf"))):  # the second run diverged
        run = registry.create_run("finetune", "demo", config={"optim": {"lr": lr}, "task": {"name": "demo"}})
        registry.add_metrics(run.id, [(1, "train/loss", 2.0, 1.0), (2, "train/loss", loss, 2.0)])
        registry.add_eval(run.id, 2, "val", {"acc": 0.5})
        ids.append(run.id)
    return registry, ids


def test_compare_data_lists_differences_and_final_numbers(two_runs):
    reg, ids = two_runs
    data = compare_data(reg, ids)
    assert [r["id"] for r in data["runs"]] == ids
    assert data["config"] == {"optim.lr": [1e-3, 3e-4]}
    assert data["metrics"] == {"train/loss": [1.0, float("inf")], "val/acc": [0.5, 0.5]}
    reg.update_run(ids[1], tags=["sweep"])
    assert runs_with_tag(reg, [ids[1]], "sweep") == [ids[1]]
    with pytest.raises(UserError, match="no run has the tag 'nope'"):
        runs_with_tag(reg, [], "nope")


def test_export_csv_rows_and_strict_json(two_runs):
    reg, ids = two_runs
    runs = export_data(reg, ids, "all")
    rows = list(csv.DictReader(io.StringIO(export_csv(runs))))
    assert [(r["kind"], r["name"], r["step"]) for r in rows if r["run_id"] == ids[0]] == [
        ("metric", "train/loss", "1"), ("metric", "train/loss", "2"), ("eval", "acc", "2")]

    def refuse(name: str):
        raise AssertionError(f"not strict JSON: {name}")

    data = json.loads(export_json(runs), parse_constant=refuse)
    assert data["runs"][1]["metrics"][1]["value"] is None  # infinity: no JSON value
    assert export_data(reg, ids[:1], "evals")[0].keys() == {"id", "name", "task", "state", "evals"}
