"""The test split's numbers, measured once on the checkpoint chosen on validation, are shown apart
from the validation numbers in `runs show` and `runs compare` (issue 15.4)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture
def runs(clpbert_home: Path):
    from clpbert.registry import open_registry

    with open_registry() as reg:
        ids = []
        for name, (v2, v4, test) in {"one": (0.5, 0.4, 0.45), "two": (0.3, 0.6, 0.55)}.items():
            r = reg.create_run("finetune", "msrvtt_ret", name=name, config={"data": {"test_split": "test"}})
            reg.add_eval(r.id, 2, "val", {"t2v/r1": v2})
            reg.add_eval(r.id, 4, "val", {"t2v/r1": v4})
            reg.add_eval(r.id, 4, "test", {"t2v/r1": test, "selected_step": 2.0 if v2 > v4 else 4.0})
            ids.append(r.id)
    return ids


def test_runs_compare_keeps_val_and_test_apart(runs, inproc):
    res = inproc("runs", "compare", *runs, "--json")
    code, out, _ = res.returncode, res.stdout, res.stderr
    assert code == 0
    metrics = json.loads(out)["metrics"]
    assert metrics["val/t2v/r1"] == [0.4, 0.6] and metrics["test/t2v/r1"] == [0.45, 0.55]
    assert metrics["test/selected_step"] == [2.0, 4.0]


def test_runs_show_prints_the_latest_val_and_the_test_on_its_checkpoint(runs, inproc):
    res = inproc("runs", "show", runs[0])
    code, out, _ = res.returncode, res.stdout, res.stderr
    assert code == 0
    assert "eval val @ step 4" in out
    assert "eval test @ step 4 (checkpoint of step 2, chosen on validation)" in out
