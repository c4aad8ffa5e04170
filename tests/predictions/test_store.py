"""RUN_DIR/predictions/: files per eval step, never overwritten, pruned like checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest

from clpbert.errors import UserError
from clpbert.predictions import analysis, schema, store


def _rows(n: int) -> list[dict]:
    return [schema.record(example_id=i, video_key=f"v{i}", type="what" if i % 2 else "who", text=f"q {i}",
                          answer="a", pred="a" if i % 3 else "b", correct=bool(i % 3), score=0.5, rank=1,
                          candidates=["a", "b"], candidate_scores=[0.5, 0.25]) for i in range(n)]


def test_a_re_evaluated_step_gets_a_new_file_and_metadata_round_trips(tmp_path: Path):
    first = store.write_predictions(tmp_path, 20, "val", schema.QA, _rows(5), task="demo", expected=6)
    again = store.write_predictions(tmp_path, 20, "val", schema.QA, _rows(4), task="demo")
    assert (str(first), str(again)) == ("predictions/step00000020-val.parquet",
                                        "predictions/step00000020-val-2.parquet")
    assert store.read_meta(tmp_path / first) == {"kind": "qa", "task": "demo", "split": "val", "step": 20,
                                                 "expected": 6, "version": schema.SCHEMA_VERSION}
    assert store.read_rows(tmp_path / first) == _rows(5)  # every column, types kept
    assert [(s, sp) for s, sp, _ in store.list_files(tmp_path)] == [(20, "val"), (20, "val")]
    assert not list((tmp_path / "predictions").glob(".*"))  # no temp file left behind


def test_prune_keeps_the_newest_steps_and_the_best(tmp_path: Path):
    for step in (10, 20, 30, 40):
        for split in ("val", "test"):
            store.write_predictions(tmp_path, step, split, schema.QA, _rows(2))
    removed = store.prune(tmp_path, keep_last=2, keep_steps=[10])
    assert sorted({s for s, _, _ in store.list_files(tmp_path)}) == [10, 30, 40]
    assert len(removed) == 2 and all("step00000020" in p.name for p in removed)


def test_a_pruned_file_reads_as_one_clear_error(tmp_path: Path):
    with pytest.raises(UserError, match=r"eval\.keep_last"):
        store.read_table(tmp_path / "predictions" / "step00000010-val.parquet")


def test_qa_metrics_scale_by_the_split_size_like_the_trainer(tmp_path: Path):
    path = tmp_path / store.write_predictions(tmp_path, 1, "val", schema.QA, _rows(6), expected=8)
    got = analysis.recompute(store.read_table(path), store.read_meta(path))
    # 4 of 6 rows right; 2 questions of the split had no readable video: acc = 4/6 * 6/8
    assert got["acc"] == pytest.approx(0.5) and got["acc/what"] == pytest.approx(2 / 3)
    assert got["acc/who"] == pytest.approx(2 / 3) and got["n"] == 6
    assert [(s.type, s.right, s.total) for s in analysis.accuracy_by_type(store.read_table(path))] == \
        [("what", 2, 3), ("who", 2, 3)]


def test_rank_summary_matches_hand_counts():
    got = analysis.rank_summary("t2v", [1, 3, 7, 12, 2])
    assert got == {"t2v/r1": 0.2, "t2v/r5": 0.6, "t2v/r10": 0.8, "t2v/mdr": 3.0, "t2v/mnr": 5.0}
    assert analysis.rank_histogram([1, 2, 5, 6, 11, 101]) == [("1", 1), ("2-5", 2), ("6-10", 1),
                                                               ("11-50", 1), ("51-100", 0), (">100", 1)]
