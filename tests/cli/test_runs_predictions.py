"""`clpbert runs predictions`: pick an evaluation, filter, sort, export; `--diff` counts flips.

Two runs in a real registry, each with saved predictions files written by the store (the trainer's
writer) and indexed as the ingestor indexes them. The --diff counts are checked against a hand-made
example.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from clpbert.predictions import schema, store

REPO = Path(__file__).resolve().parents[2]

# (id, type, answer, A's prediction, B's prediction)
EXAMPLES = [
    ("q1", "what", "dog", "dog", "dog"),    # right in both
    ("q2", "what", "cat", "dog", "cat"),    # fixed (what)
    ("q3", "what", "car", "car", "bus"),    # broken (what)
    ("q4", "who", "man", "man", "woman"),   # broken (who)
    ("q5", "who", "girl", "boy", "girl"),   # fixed (who)
    ("q6", "who", "boy", "man", "woman"),   # wrong in both
    ("q7", "where", "park", "park", "beach"),  # broken (where)
]
# by hand: fixed what 1, who 1; broken what 1, who 1, where 1; 7 examples in both


def run_cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    import os

    env = {**os.environ, "CLPBERT_HOME": str(home)}
    env.pop("CLPBERT_DB_URL", None)
    return subprocess.run([sys.executable, "-m", "cli.app", *args], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=120)


def _rows(which: int) -> list[dict]:
    out = []
    for n, (qid, qtype, answer, *preds) in enumerate(EXAMPLES):
        pred = preds[which]
        others = [a for a in ("dog", "cat", "car", "bus", "man") if a != pred][:4]
        out.append(schema.record(example_id=qid, video_key=f"video{n}", type=qtype, text=f"question {qid}",
                                 answer=answer, pred=pred, correct=pred == answer, score=0.9 - n / 10,
                                 rank=1 if pred == answer else 2 + n, candidates=[pred, *others],
                                 candidate_scores=[0.9 - n / 10, 0.05, 0.02, 0.02, 0.01]))
    return out


def _add_run(reg, home: Path, name: str, which: int, steps: dict[int, float]):
    run = reg.create_run("finetune", "msrvtt_qa", name=name, run_dir=home / "runs" / name)
    for step, acc in steps.items():
        ev = reg.add_eval(run.id, step, "val", {"acc": acc})
        rel = store.write_predictions(run.run_dir, step, "val", schema.QA, _rows(which), task="msrvtt_qa")
        reg.add_eval_predictions(ev.id, str(rel), kind=schema.QA, rows=len(EXAMPLES))
    reg.update_run(run.id, best_metric_name="acc", best_metric_value=max(steps.values()))
    return run


@pytest.fixture
def two_runs(clpbert_home: Path):
    from clpbert.registry import open_registry

    with open_registry() as reg:
        a = _add_run(reg, clpbert_home, "alpha", 0, {10: 3 / 7, 20: 4 / 7, 30: 3 / 7})
        b = _add_run(reg, clpbert_home, "beta", 1, {10: 3 / 7})
        nothing = reg.create_run("finetune", "msrvtt_qa", name="empty")
    return clpbert_home, a, b, nothing


def test_diff_counts_flips_per_question_type(two_runs):
    home, a, b, _ = two_runs
    proc = run_cli(home, "runs", "predictions", a.id, b.id, "--diff", "--json")
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    assert d["common"] == 7 and d["fixed"] == 2 and d["broken"] == 3
    assert d["per_type"] == {"what": {"fixed": 1, "broken": 1}, "who": {"fixed": 1, "broken": 1},
                             "where": {"fixed": 0, "broken": 1}}
    assert sorted((f["change"], f["b"]["example_id"]) for f in d["flips"]) == [
        ("broken", "q3"), ("broken", "q4"), ("broken", "q7"), ("fixed", "q2"), ("fixed", "q5")]
    table = run_cli(home, "runs", "predictions", "alpha", "beta", "--diff", "--type", "who")
    assert table.returncode == 0, table.stderr
    assert "q4" in table.stdout and "q5" in table.stdout and "q3" not in table.stdout


def test_filters_sort_step_best_and_exports(two_runs):
    home, a, _, _ = two_runs
    d = json.loads(run_cli(home, "runs", "predictions", a.id, "--json").stdout)
    assert d["step"] == 30 and d["total"] == 7 and len(d["rows"]) == 7  # latest by default
    assert set(d["rows"][0]) == set(schema.COLUMNS)
    def step_of(*args: str) -> int:
        return json.loads(run_cli(home, "runs", "predictions", a.id, *args, "--json").stdout)["step"]

    assert step_of("--best") == 20 and step_of("--step", "10") == 10
    wrong = json.loads(run_cli(home, "runs", "predictions", a.id, "--wrong", "--type", "who",
                               "--json").stdout)
    assert [r["example_id"] for r in wrong["rows"]] == ["q5", "q6"] and wrong["matched"] == 2
    ranked = json.loads(run_cli(home, "runs", "predictions", a.id, "--sort", "rank", "--limit", "2",
                                "--json").stdout)
    assert [r["rank"] for r in ranked["rows"]] == [7, 6] and ranked["matched"] == 7
    found = json.loads(run_cli(home, "runs", "predictions", a.id, "--search", "VIDEO4", "--json").stdout)
    assert [r["example_id"] for r in found["rows"]] == ["q5"]
    out = run_cli(home, "runs", "predictions", a.id, "--csv", "--answer", "dog")
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert [r["example_id"] for r in rows] == ["q1", "q2"]  # right answer dog, or predicted dog
    assert rows[0]["candidates"].split("|")[0] == "dog"
    table = run_cli(home, "runs", "predictions", a.id, "--wrong")
    assert table.returncode == 0 and "q2" in table.stdout and "q1" not in table.stdout
    assert "3 shown, 3 of 7 match" in table.stderr


@pytest.mark.parametrize("args, message", [
    (["--step", "15"], "steps with predictions: 10, 20, 30"),
    (["--split", "test"], "no saved predictions for split 'test'"),
    (["--sort", "loss"], "--sort 'loss' is not one of"),
    (["--diff"], "--diff compares two runs"),
    (["--step", "10", "--best"], "not both"),
])
def test_bad_choices_are_one_line_and_exit_2(two_runs, args, message):
    home, a, _, _ = two_runs
    proc = run_cli(home, "runs", "predictions", a.id, *args)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_run_without_saved_predictions_says_why(two_runs):
    home, _, _, nothing = two_runs
    proc = run_cli(home, "runs", "predictions", nothing.id)
    assert proc.returncode == 2 and "has no saved predictions" in proc.stderr
