"""The test split's numbers, measured once on the checkpoint chosen on validation, are shown apart
from the validation numbers in `runs show` and `runs compare` (issue 15.4)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def _call(*args: str, capsys) -> tuple[int, str, str]:
    from cli.app import main

    capsys.readouterr()
    try:
        main(list(args))
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err


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


def test_runs_compare_keeps_val_and_test_apart(runs, capsys):
    code, out, _ = _call("runs", "compare", *runs, "--json", capsys=capsys)
    assert code == 0
    metrics = json.loads(out)["metrics"]
    assert metrics["val/t2v/r1"] == [0.4, 0.6] and metrics["test/t2v/r1"] == [0.45, 0.55]
    assert metrics["test/selected_step"] == [2.0, 4.0]


def test_runs_show_prints_the_latest_val_and_the_test_on_its_checkpoint(runs, capsys):
    code, out, _ = _call("runs", "show", runs[0], capsys=capsys)
    assert code == 0
    assert "eval val @ step 4" in out
    assert "eval test @ step 4 (checkpoint of step 2, chosen on validation)" in out
