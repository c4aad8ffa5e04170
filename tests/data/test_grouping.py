"""Training groups cut as the original cuts them (spec §1.8): chunks of k texts per image, the last
one padded with the same image's texts, so every text is visited each epoch."""

from __future__ import annotations

import json
import math
import random
from collections import Counter

import pytest

from clpbert.config import preset
from clpbert.data.grouping import chunk_groups, count_groups, record_key
from clpbert.train.steps import BatchPlan, StepPlan, split_groups, total_steps


def _recs(counts: dict[str, int]) -> list[dict]:
    return [{"caption": f"{k} {i}", "coco_id": k} for k, n in counts.items() for i in range(n)]


def test_chunks_of_k_keep_file_order_and_pad_the_last_with_the_same_images_texts():
    recs = _recs({"a": 5, "b": 2, "c": 1})
    groups = chunk_groups(recs, 2, record_key, pad=True, rng=random.Random(0))
    assert len(groups) == 3 + 1 + 1 == count_groups((r["coco_id"] for r in recs), 2)
    assert [[r["caption"] for r in g] for g in groups[:2]] == [["a 0", "a 1"], ["a 2", "a 3"]]
    assert groups[2][0]["caption"] == "a 4" and groups[2][1]["coco_id"] == "a"  # padded from image a
    assert [r["caption"] for r in groups[4]] == ["c 0", "c 0"]
    assert all(len(g) == 2 and len({r["coco_id"] for r in g}) == 1 for g in groups)
    visited = {r["caption"] for g in groups for r in g}
    assert visited == {r["caption"] for r in recs}  # every caption, every epoch


def test_evaluation_chunks_are_left_short_and_k1_is_one_group_per_record():
    recs = _recs({"a": 3, "b": 1})
    short = chunk_groups(recs, 2, record_key, pad=False, rng=random.Random(0))
    assert [len(g) for g in short] == [2, 1, 1]
    assert chunk_groups(recs, 1, record_key, pad=True, rng=random.Random(0)) == [[r] for r in recs]


def test_pretrain_steps_on_real_coco_val2017_follow_the_original_chunk_count(real_data, tmp_path, tokenizer):
    """COCO val2017 (5,000 images, 25,014 captions): an epoch is Σ⌈n_i/2⌉ groups, not 5,000."""
    from clpbert.data.convert.coco_captions import captions
    from clpbert.data.datasets import build_dataset
    from clpbert.data.txt_db import TxtDBWriter
    from clpbert.data.vis_db import VisDBWriter

    src = real_data / "coco_captions" / "captions_val2017.json"
    per_image = Counter(a["image_id"] for a in json.loads(src.read_text())["annotations"])
    expected = sum(math.ceil(n / 2) for n in per_image.values())
    assert len(per_image) == 5000 and expected > 12_000  # (one group per image would be 5,000)
    TxtDBWriter(tmp_path / "txt_db").write_split("train", captions(src, "id12"))
    img = next((real_data / "coco_captions" / "coco_mini" / "val2017").glob("*.jpg"))
    with VisDBWriter(tmp_path / "vis_db") as w:  # a real LMDB (the images are read only per item)
        w.put_container(img.stem, img.read_bytes(), "jpg")
    cfg = preset("pretrain")
    ds = build_dataset(cfg, "train", True, tokenizer, tmp_path / "txt_db", tmp_path / "vis_db")
    assert len(ds) == expected == split_groups(tmp_path / "txt_db", "train", 2)
    assert sum(len(g) for g in ds.groups) == 2 * expected
    # 8 GPUs x 32 images x accumulation 2: the original's ceil(n_batches_in_epoch x epochs / (n_gpu x accum))
    n_batches_in_epoch = expected / 32
    original = math.ceil(n_batches_in_epoch * 40 / (8 * 2))
    assert total_steps(len(ds), cfg, world=8) == original
    plan = StepPlan(expected, BatchPlan(32, 8, 2), 40, k=2)
    assert plan.total_steps == original and f"= {original} " in plan.describe()


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    from clpbert.data.tokenizer import load_tokenizer

    vocab = tmp_path_factory.mktemp("tok")
    (vocab / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a"]) + "\n")
    return load_tokenizer(vocab)
