"""Which QA questions training keeps (clpbert/data/qa_labels.py): the dataset and the launch step
count apply the same rule, so the steps printed before launch are the steps the trainer runs."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from clpbert.config import resolve_config
from clpbert.data.convert.base import convert
from clpbert.data.qa_labels import UNKNOWN, answer_label, training_questions
from clpbert.data.txt_db import TxtDBWriter
from clpbert.data.vis_db import VisDBWriter
from clpbert.train.steps import launch_summary, split_groups


@pytest.fixture
def qa_txt_db(real_data: Path, tmp_path: Path) -> tuple[Path, int, int]:
    """The real MSVD-QA val file as a train split with a 300-answer vocabulary: (txt_db, all, kept)."""
    ann = tmp_path / "train_qa.json"
    ann.write_bytes((real_data / "msrvtt_qa" / "format_proxy_msvd_qa" / "val_qa.json").read_bytes())
    (part,) = convert("msrvtt_qa", ann, {"num_answers": "300"}).parts
    records = part.splits["train"]
    writer = TxtDBWriter(tmp_path / "txt_db")
    writer.write_split("train", records)
    writer.write_ans2label(part.ans2label)
    kept = sum(1 for r in records if r["answer"] in part.ans2label)
    return tmp_path / "txt_db", len(records), kept


def test_answer_outside_the_vocabulary_is_dropped_from_training_unless_soft_scores():
    vocab = {"cat": 0, "dog": 1}
    plain = [{"answer": "cat"}, {"answer": "bird"}, {"answer": "dog"}]
    assert [answer_label(r, vocab) for r in plain] == [0, UNKNOWN, 1]
    assert training_questions(plain, vocab) == [plain[0], plain[2]]
    soft = [{"labels": {"cat": 0.3, "dog": 1.0}}, {"labels": {}}]  # VQA: zero targets train too
    assert answer_label(soft[0], vocab) == 1 and training_questions(soft, vocab) == soft


def test_launch_step_count_counts_only_the_questions_training_keeps(qa_txt_db, tmp_path: Path, tokenizer):
    from clpbert.data.datasets import build_dataset

    txt_db, total, kept = qa_txt_db
    assert 0 < kept < total  # real answers outside the 300 most frequent
    with VisDBWriter(tmp_path / "vis_db") as w:  # a real LMDB; items are not read here
        w.put_container("video1", b"\0", "mp4")
    cfg = resolve_config("msrvtt_qa", sets=[f"data.txt_db={txt_db}", f"data.vis_db={tmp_path / 'vis_db'}"])
    ds = build_dataset(cfg, "train", True, tokenizer, txt_db, tmp_path / "vis_db")
    assert len(ds) == kept == split_groups(txt_db, "train", 1, qa=True)
    assert split_groups(txt_db, "train", 1) == total  # the raw count (what was printed before)
    steps = math.ceil(10 * kept / 64)
    assert launch_summary(cfg, 4)[1] == (f"steps: 10 epochs x {kept} examples ({total - kept} questions with "
                                         f"no answer in the vocabulary left out) / global batch 64 = {steps} "
                                         f"({kept / 64:.1f} per epoch)")
    limited = resolve_config("msrvtt_qa", sets=[f"data.txt_db={txt_db}", "data.max_train_examples=1000"])
    first = build_dataset(limited, "train", True, tokenizer, txt_db, tmp_path / "vis_db")
    assert len(first) == split_groups(txt_db, "train", 1, 1000, qa=True) < 1000
