"""Datasets + collate for every head: the batch contract, skipped videos, negatives, MLM masking."""

from __future__ import annotations

import pytest
import torch
import torchvision.io as tio
from torch.utils.data import DataLoader

from clpbert.config import preset
from clpbert.data.collate import mask_tokens
from clpbert.data.datasets import RetrievalEvalData, build_dataset
from clpbert.data.tokenizer import special_ids
from clpbert.data.txt_db import TxtDBWriter
from clpbert.data.vis_db import VisDB, VisDBWriter
from clpbert.errors import UserError

pytestmark = pytest.mark.filterwarnings("ignore:The image decoding:DeprecationWarning")

COLORS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255)]
L = 32


@pytest.fixture(scope="module")
def db(tmp_path_factory, mp4):
    """A vis_db with 5 small videos v0..v4, 4 images, one corrupt video `bad`; txt_dbs per task."""
    root = tmp_path_factory.mktemp("ds")
    with VisDBWriter(root / "vis_db") as w:
        for i, c in enumerate(COLORS):
            w.put_container(f"v{i}", mp4([c], size=(64, 48), fps=10, frames_per_color=20), "mp4")
        w.put_container("bad", mp4([(1, 2, 3)])[:300], "mp4")  # truncated: header only
        for i, c in enumerate(COLORS[:4]):
            img = torch.tensor(c, dtype=torch.uint8).view(3, 1, 1).expand(3, 30, 40).contiguous()
            w.put_container(f"img{i}", tio.encode_jpeg(img).numpy().tobytes(), "jpg")
    qa = [{"question": f"what color is {i}?", "answer": a, "video_id": v, "answer_type": "what"}
          for i, (v, a) in enumerate([("v0", "red"), ("v1", "blue"), ("bad", "red"), ("v2", "green"),
                                      ("v3", "unseen")])]
    w = TxtDBWriter(root / "qa")
    w.write_split("train", qa)
    w.write_split("val", qa)
    w.write_ans2label({"red": 0, "blue": 1, "green": 2})
    mc = [{"gif_name": f"v{i}", "question": "what does the dog do ?", "answer": i % 5,
           "options": ["runs", "sits", "plays ball", "talk", "fall over"]} for i in range(4)]
    TxtDBWriter(root / "mc").write_split("val", mc)
    ret = [{"caption": f"a video of {n} {j}", "clip_name": f"v{i}"}
           for i, n in enumerate(["red", "green", "blue", "yellow", "cyan"]) for j in range(3)]
    w = TxtDBWriter(root / "ret")
    w.write_split("train", ret)
    val = [r for r in ret if r["caption"].endswith("0")] + [{"caption": "x", "clip_name": "bad"}]
    w.write_split("val", val)
    caps = [{"caption": f"the {w} car is on the {w} ball and the dog sits", "coco_id": f"img{i}"}
            for i, w in enumerate(["red", "green", "blue", "yellow"]) for _ in range(3)]
    TxtDBWriter(root / "pre").write_split("train", caps)
    return root


def cfg_for(task, **data):
    cfg = preset(task)
    cfg.data.max_img_size, cfg.data.max_txt_len = L, 16
    for k, v in data.items():
        setattr(cfg.data, k, v)
    return cfg


def test_qa_train_batch_contract_and_corrupt_video_skipped(db, tokenizer, caplog):
    ds = build_dataset(cfg_for("msrvtt_qa", num_frm=2, train_n_clips=3), "train", True, tokenizer,
                       db / "qa", db / "vis_db")
    assert len(ds) == 4  # the answer outside ans2label is not trained on
    batch = ds.collate([ds[i] for i in range(len(ds))])
    assert batch["n_skipped"] == 1 and ds.n_skipped_total == 1  # `bad` dropped, counted
    assert "skipped video 'bad'" in caplog.text
    assert batch["frames"].shape == (3, 3, 2, 3, L, L) and batch["frames"].dtype == torch.uint8
    assert batch["input_ids"].shape == batch["attention_mask"].shape == (3, 16)
    assert batch["repeats"].tolist() == [1, 1, 1] and batch["labels"].tolist() == [0, 1, 2]
    assert [m["video_id"] for m in batch["meta"]] == ["v0", "v1", "v2"]
    red = batch["frames"][0, :, :, :, :24, :].float().mean(dim=(0, 1, 3, 4))  # 64x48 -> 32x24
    assert red[0] > 200 and red[1:].max() < 60  # RGB order survives decode + resize
    assert (batch["frames"][:, :, :, :, 24:, :] == 0).all()  # zero padding at the bottom


def test_qa_eval_keeps_unknown_answers_as_minus_100(db, tokenizer):
    ds = build_dataset(cfg_for("msrvtt_qa"), "val", False, tokenizer, db / "qa", db / "vis_db")
    batch = ds.collate([ds[i] for i in range(len(ds))])
    assert batch["labels"].tolist() == [0, 1, 2, -100] and batch["frames"].shape == (4, 1, 2, 3, L, L)
    assert batch["meta"][3]["answer"] == "unseen" and batch["meta"][0]["answer_type"] == "what"
    again = ds.collate([ds[0]])
    assert torch.equal(again["frames"][0], batch["frames"][0])  # evaluation sampling is deterministic


def test_mc_texts_are_question_plus_option(db, tokenizer):
    ds = build_dataset(cfg_for("tgif_qa_action"), "val", False, tokenizer, db / "mc", db / "vis_db")
    batch = ds.collate([ds[0], ds[1]])
    assert batch["frames"].shape == (2, 1, 1, 3, L, L)
    assert batch["input_ids"].shape == (10, 16) and batch["repeats"].tolist() == [5, 5]
    assert batch["labels"].tolist() == [0, 1] and len(batch["meta"]) == 10
    text = tokenizer.decode(batch["input_ids"][2], skip_special_tokens=True)
    assert text == "what does the dog do? plays ball"


def test_retrieval_negatives_come_from_other_videos(db, tokenizer):
    ds = build_dataset(cfg_for("msrvtt_ret", train_n_clips=2), "train", True, tokenizer, db / "ret",
                       db / "vis_db")
    batch = ds.collate([ds[i] for i in range(4)])
    assert batch["frames"].shape == (4, 2, 2, 3, L, L)
    assert batch["input_ids"].shape == (8, 16) and batch["repeats"].tolist() == [2] * 4
    assert batch["labels"].tolist() == [1, 0] * 4
    import random

    rng = random.Random(0)
    for i in range(len(ds)):
        for _ in range(20):
            j = ds.negative(ds.keys[i], rng)
            assert ds.keys[j] != ds.keys[i]
    assert all(m["text_video_id"] != m["video_id"] for m in batch["meta"][1::2])


def test_retrieval_eval_gives_videos_once_and_all_texts(db, tokenizer):
    data = build_dataset(cfg_for("msrvtt_ret", inference_n_clips=3), "val", False, tokenizer, db / "ret",
                         db / "vis_db")
    assert isinstance(data, RetrievalEvalData)
    assert data.videos.video_ids == ["v0", "v1", "v2", "v3", "v4", "bad"]
    assert [t["video_id"] for t in data.texts] == ["v0", "v1", "v2", "v3", "v4", "bad"]
    assert data.input_ids.shape == (6, 16)
    batch = data.collate([data.videos[i] for i in range(6)])
    assert batch["frames"].shape == (5, 3, 2, 3, L, L) and batch["n_skipped"] == 1
    assert batch["video_ids"] == ["v0", "v1", "v2", "v3", "v4"]


def test_pretrain_groups_itm_and_mlm(db, tokenizer):
    cfg = cfg_for("pretrain")
    cfg.task.itm_neg_prob = 0.5
    ds = build_dataset(cfg, "train", True, tokenizer, db / "pre", db / "vis_db")
    assert len(ds) == 8  # 3 captions per image: 2 chunks of 2 (the second padded), spec §1.8
    batch = ds.collate([ds[i] for i in range(4)])
    assert batch["frames"].shape == (4, 1, 1, 3, L, L) and batch["repeats"].tolist() == [2] * 4
    assert batch["mlm_labels"].shape == batch["input_ids"].shape == (8, 16)
    assert batch["itm_labels"].shape == (8,)
    for m, itm in zip(batch["meta"], batch["itm_labels"].tolist(), strict=True):
        assert (m["caption_image_id"] == m["image_id"]) == (itm == 1)  # negatives come from other images
    masked = batch["mlm_labels"] != -100
    assert (batch["attention_mask"][masked] == 1).all()


def test_mlm_masking_proportions_and_never_special(tokenizer):
    vocab = len(tokenizer)
    special = special_ids(tokenizer)
    ids = torch.randint(len(special) + 3, vocab, (400, 64))
    ids[:, 0], ids[:, 40] = tokenizer.cls_token_id, tokenizer.sep_token_id
    ids[:, 41:] = tokenizer.pad_token_id
    mask = (ids != tokenizer.pad_token_id).long()
    out, labels = mask_tokens(ids, mask, mask_id=tokenizer.mask_token_id, vocab_size=vocab, special=special,
                              prob=0.15, generator=torch.Generator().manual_seed(0))
    sel = labels != -100
    eligible = 400 * 39
    assert abs(sel.sum().item() / eligible - 0.15) < 0.01
    assert not sel[:, 0].any() and not sel[:, 40:].any()  # never [CLS], [SEP] or padding
    assert torch.equal(labels[sel], ids[sel]) and torch.equal(out[~sel], ids[~sel])
    n = sel.sum().item()
    to_mask = (out[sel] == tokenizer.mask_token_id).sum().item() / n
    kept = (out[sel] == ids[sel]).sum().item() / n
    assert abs(to_mask - 0.8) < 0.03 and abs(kept - 0.1) < 0.03  # the rest (~10 %) are random ids


def test_dataloader_workers_open_lmdb_themselves(db, tokenizer):
    ds = build_dataset(cfg_for("msrvtt_qa", train_n_clips=2), "val", False, tokenizer, db / "qa",
                       db / "vis_db")
    dl = DataLoader(ds, batch_size=5, num_workers=2, collate_fn=ds.collate, multiprocessing_context="fork")
    batches = list(dl)
    assert sum(b["frames"].shape[0] for b in batches) == 4 and sum(b["n_skipped"] for b in batches) == 1
    assert not ds.loader.vis_db.is_open  # the parent never opened the LMDB


def test_missing_inputs_are_clear_errors(db, tokenizer, tmp_path):
    cfg = cfg_for("msrvtt_qa")
    with pytest.raises(UserError, match="vis_db"):
        build_dataset(cfg, "train", True, tokenizer, db / "qa", tmp_path / "nope")
    with pytest.raises(UserError, match="'test' not found"):
        build_dataset(cfg, "test", False, tokenizer, db / "qa", db / "vis_db")
    with pytest.raises(UserError, match="lacks field"):
        build_dataset(cfg, "train", True, tokenizer, db / "ret", db / "vis_db")
    assert isinstance(VisDB(db / "vis_db"), VisDB)
