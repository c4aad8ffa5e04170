"""VQA v2 + Visual Genome QA converter on small files in the official schemas (written here), and the
VQA data path behind it: soft scores, zero-target questions kept, VG-QA as augmentation, VQA score
per answer type (issue 15.7)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clpbert.data.convert.base import convert
from clpbert.data.convert.vqa import normalize_answer, soft_score

pytestmark = pytest.mark.filterwarnings("ignore:The image decoding:DeprecationWarning")


def _answers(*pairs: tuple[str, int]) -> list[dict]:
    out = [{"answer": a, "answer_confidence": "yes"} for a, n in pairs for _ in range(n)]
    return [dict(a, answer_id=i + 1) for i, a in enumerate(out)]


def _write(folder: Path) -> None:
    def qa(subtype: str, rows: list[tuple[int, int, str, list[dict], str, str]]) -> None:
        q = {"info": {}, "task_type": "Open-Ended", "data_type": "mscoco", "license": {},
             "data_subtype": subtype, "questions": [{"image_id": img, "question": text, "question_id": qid}
                           for qid, img, text, *_ in rows]}
        (folder / f"v2_OpenEnded_mscoco_{subtype}_questions.json").write_text(json.dumps(q))
        if subtype.startswith("test"):
            return
        anns = [{"question_type": "what", "multiple_choice_answer": mc, "answers": answers, "image_id": img,
                 "answer_type": kind, "question_id": qid} for qid, img, _, answers, mc, kind in rows]
        (folder / f"v2_mscoco_{subtype}_annotations.json").write_text(
            json.dumps({"info": {}, "license": {}, "data_subtype": subtype, "annotations": anns}))

    qa("train2014", [
        (1, 9, "Is this a dog?", _answers(("yes", 9), ("no", 1)), "yes", "yes/no"),
        (2, 9, "How many cats?", _answers(("Two", 3), ("2", 2), ("three", 5)), "2", "number"),
        (3, 25, "What animal is it?", _answers(("giraffe", 10)), "giraffe", "other"),
        (4, 25, "Is it sunny?", _answers(("no", 10)), "no", "yes/no"),
        (5, 30, "How many?", _answers(("3", 10)), "3", "number"),
    ])
    qa("val2014", [(10, 42, "Is it red?", _answers(("yes", 4), ("no", 6)), "no", "yes/no"),
                   (11, 42, "How many dogs?", _answers(("2", 1), ("3", 9)), "3", "number")])
    qa("test2015", [(20, 7, "What is this?", [], "", "")])
    vg = [{"id": 1, "qas": [{"qa_id": 100, "image_id": 1, "question": "How many dogs?", "answer": "Three.",
                             "a_objects": [], "q_objects": []},
                            {"qa_id": 101, "image_id": 1, "question": "What is it?", "answer": "A zebra",
                             "a_objects": [], "q_objects": []}]}]
    (folder / "question_answers.json").write_text(json.dumps(vg))


def test_official_normalisation_and_soft_scores():
    assert normalize_answer("Two dogs.") == "2 dogs" and normalize_answer(" The  Cat ") == "cat"
    assert normalize_answer("dont") == "don't" and normalize_answer("yes!") == "yes"
    assert [soft_score(n) for n in range(6)] == [0.0, 0.3, 0.6, pytest.approx(0.9), 1.0, 1.0]


def test_vqa_v2_and_vg_qa_become_soft_score_splits(tmp_path: Path):
    _write(tmp_path)
    conv = convert("vqa", tmp_path, {"min_count": "2"})
    (part,) = conv.parts
    assert part.task == "vqa" and set(part.splits) == {"train", "val", "test"}
    # multiple_choice_answers seen 2+ times in train+val, most frequent first
    assert part.ans2label == {"3": 0, "no": 1}
    train = {r["question_id"]: r for r in part.splits["train"]}
    assert train[1]["labels"] == {"no": 0.3} and train[1]["image_id"] == "COCO_train2014_000000000009"
    assert train[2]["labels"] == {"3": 1.0} and train[2]["answer"] == "2"  # "Two" x3 + "2" x2 -> "2"
    assert train[3]["labels"] == {} and train[3]["answer"] == "giraffe"  # kept: zero targets
    vg = [(r["image_id"], r["answer"], r["labels"]) for r in part.splits["train"] if r["answer_type"] == "vg"]
    assert vg == [("1", "3", {"3": 1.0}), ("1", "zebra", {})]
    assert part.splits["val"][1]["labels"] == {"3": 1.0} and part.splits["val"][0]["labels"] == {"no": 1.0}
    assert part.splits["test"] == [{"question": "What is this?", "image_id": "COCO_test2015_000000000007",
                                    "question_id": 20}]
    assert any("zero targets" in n for n in conv.notes) and any("Visual Genome" in n for n in conv.notes)


def test_zero_target_questions_train_and_vqa_score_is_reported_per_answer_type(tmp_path: Path, tokenizer):
    import torch
    import torchvision.io as tio

    from clpbert.config import preset
    from clpbert.data.datasets import build_dataset
    from clpbert.data.txt_db import TxtDBWriter
    from clpbert.data.vis_db import VisDBWriter
    from clpbert.task_specs import spec_of

    _write(tmp_path)
    (part,) = convert("vqa", tmp_path, {"min_count": "2"}).parts
    w = TxtDBWriter(tmp_path / "txt_db")
    for split, recs in part.splits.items():
        w.write_split(split, recs)
    w.write_ans2label(part.ans2label)
    with VisDBWriter(tmp_path / "vis_db") as v:
        for key in part.video_keys():
            img = torch.full((3, 20, 30), 128, dtype=torch.uint8)
            v.put_container(key, tio.encode_jpeg(img).numpy().tobytes(), "jpg")
    cfg = preset("vqa")
    cfg.data.max_img_size, cfg.data.max_txt_len = 32, 12
    ds = build_dataset(cfg, "train", True, tokenizer, tmp_path / "txt_db", tmp_path / "vis_db")
    texts = [r["question_id"] for g in ds.groups for r in g]
    assert 3 in texts and "vg101" in texts  # zero-target questions are trained on
    item = next(ds[i] for i, g in enumerate(ds.groups) if any(r["question_id"] == 3 for r in g))
    row = [m["question_id"] for m in item["meta"]].index(3)
    assert item["targets"].shape[1] == 3129 and item["targets"][row].sum() == 0
    vqa = spec_of("vqa").train_task()
    metrics = vqa.metrics([{"score": 1.0, "type": "yes/no"}, {"score": 0.3, "type": "number"},
                           {"score": 0.0, "type": "number"}], expected=3)
    assert metrics["acc/yes/no"] == 1.0 and metrics["acc/number"] == pytest.approx(0.15)
    assert metrics["acc"] == pytest.approx(1.3 / 3)


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    from clpbert.data.tokenizer import load_tokenizer

    vocab = tmp_path_factory.mktemp("tok")
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "is", "it"]
    (vocab / "vocab.txt").write_text("\n".join(tokens) + "\n")
    return load_tokenizer(vocab)
