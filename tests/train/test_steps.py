"""The original's global batch and step arithmetic (clpbert/train/steps.py), and where it is printed."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import pytest

from clpbert.config import preset, resolve_config
from clpbert.train.steps import BatchPlan, adapt_global_batch, plan_batch


def test_presets_state_the_originals_global_batch():
    got = {t: preset(t).optim.global_batch for t in ("pretrain", "msrvtt_ret", "didemo_ret", "anet_ret",
                                                      "msrvtt_qa", "tgif_qa_frameqa", "vqa", "demo")}
    # finetuning on 4 GPUs (bsz x accum x 4), pretraining 8 GPUs x 32 images x accum 2
    assert got == {"pretrain": 512, "msrvtt_ret": 64, "didemo_ret": 128, "anet_ret": 128, "msrvtt_qa": 64,
                   "tgif_qa_frameqa": 64, "vqa": 128, "demo": 0}


@pytest.mark.parametrize(("target", "world", "per_gpu_max", "expected"), [
    (64, 4, 16, (16, 1)),   # the original's 4 GPUs: as the config says
    (64, 1, 16, (16, 4)),   # one GPU: accumulate 4
    (64, 8, 16, (8, 1)),    # 8 GPUs: smaller per-GPU batch
    (128, 2, 8, (8, 8)),    # DiDeMo on 2 GPUs
    (512, 16, 32, (32, 1)),
    (64, 3, 16, (11, 2)),   # not divisible: the nearest larger global batch, 66
])
def test_plan_batch_keeps_the_global_batch_within_the_per_gpu_limit(target, world, per_gpu_max, expected):
    per_gpu, accum = plan_batch(target, world, per_gpu_max)
    assert (per_gpu, accum) == expected and per_gpu <= per_gpu_max
    assert per_gpu * world * accum == target or target % world


def test_adapting_a_preset_to_one_gpu_keeps_64_videos_per_step_unless_set_explicitly():
    cfg = resolve_config("msrvtt_ret")
    plan = adapt_global_batch(cfg, 1, preset("msrvtt_ret"))
    assert (cfg.data.batch_size, cfg.optim.grad_accum, plan.global_batch) == (16, 4, 64)
    assert plan.describe() == "global batch 64 = 16 per process x 1 process x accumulation 4"
    mine = resolve_config("msrvtt_ret", sets=["data.batch_size=4"])
    plan = adapt_global_batch(mine, 1, preset("msrvtt_ret"))
    assert (mine.data.batch_size, mine.optim.grad_accum) == (4, 1)  # --set wins
    assert "preset's is 64" in plan.describe() and "set explicitly" in plan.describe()
    other = resolve_config("msrvtt_ret", sets=["optim.global_batch=32"])
    adapt_global_batch(other, 2, preset("msrvtt_ret"))
    assert (other.data.batch_size, other.optim.grad_accum) == (16, 1)
    demo = resolve_config("demo")
    assert adapt_global_batch(demo, 3, preset("demo")) == BatchPlan(32, 3, 1)  # demo: no target


def test_config_show_prints_the_batch_and_step_arithmetic(real_data, tmp_path, capsys, monkeypatch):
    """`config show --task pretrain` over the real COCO val2017 captions: the original's step count."""
    from cli.app import main
    from clpbert.data.convert.coco_captions import captions
    from clpbert.data.txt_db import TxtDBWriter

    monkeypatch.setenv("CLPBERT_HOME", str(tmp_path / "home"))
    src = real_data / "coco_captions" / "captions_val2017.json"
    TxtDBWriter(tmp_path / "txt_db").write_split("train", captions(src, "id12"))
    groups = sum(math.ceil(n / 2) for n in Counter(a["image_id"] for a in
                                                   json.loads(src.read_text())["annotations"]).values())
    txt = f"data.txt_db={tmp_path / 'txt_db'}"
    with pytest.raises(SystemExit) as ex:
        main(["config", "show", "--task", "pretrain", "--gpus", "8", "--set", txt])
    assert ex.value.code in (0, None)
    out, err = capsys.readouterr()
    assert "global batch 512 = 32 per process x 8 processes x accumulation 2" in err
    total = math.ceil(40 * groups / 512)
    assert f"steps: 40 epochs x {groups} groups" in err and f"= {total} (" in err
    assert "grad_accum: 2" in out and "global batch" not in out  # stdout stays the YAML
    with pytest.raises(SystemExit):
        main(["config", "show", "--task", "pretrain", "--gpus", "1", "--set", txt])
    out, err = capsys.readouterr()
    assert "global batch 512 = 32 per process x 1 process x accumulation 16" in err
    assert "grad_accum: 16" in out and f"= {total} (" in err  # same steps on one GPU


@pytest.fixture(scope="module")
def train_txt_dbs(real_data, tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    """Per head, a txt_db whose train split is real annotations, and a real (tiny) LMDB."""
    from clpbert.data.convert.base import convert
    from clpbert.data.convert.coco_captions import captions
    from clpbert.data.txt_db import TxtDBWriter
    from clpbert.data.vis_db import VisDBWriter

    root = tmp_path_factory.mktemp("preset_steps")
    vis = root / "vis_db"
    with VisDBWriter(vis) as w:  # items are not read: the counts come from the txt_db
        w.put_container("x", b"\0", "mp4")
    msvd = root / "train_qa.json"
    msvd.write_bytes((real_data / "msrvtt_qa" / "format_proxy_msvd_qa" / "val_qa.json").read_bytes())
    (qa,) = convert("msrvtt_qa", msvd, {"num_answers": "300"}).parts  # real answers outside the vocabulary
    soft = [{**r, "labels": {r["answer"]: 1.0} if r["answer"] in qa.ans2label else {}}
            for r in qa.splits["train"]]
    records = {
        "pretrain": (captions(real_data / "coco_captions" / "coco_mini" / "captions_train2017.json", "id12"),
                     None),
        "retrieval": (convert("didemo", real_data / "didemo" / "val_data.json").parts[0].splits["val"], None),
        "mc": (convert("tgif_qa", real_data / "tgif_qa" / "Test_action_question.csv").parts[0].splits["test"],
               None),
        "qa": (qa.splits["train"], qa.ans2label),
        "vqa": (soft, qa.ans2label),
    }
    out = {}
    for head, (recs, ans2label) in records.items():
        writer = TxtDBWriter(root / head)
        writer.write_split("train", recs)
        if ans2label:
            writer.write_ans2label(ans2label)
        out[head] = (root / head, vis)
    return out


@pytest.mark.real
@pytest.mark.parametrize("task", ["pretrain", "msrvtt_ret", "didemo_ret", "anet_ret", "msrvtt_qa",
                                  "tgif_qa_action", "tgif_qa_transition", "tgif_qa_frameqa", "vqa", "demo"])
def test_every_presets_printed_steps_are_the_trainers(task, train_txt_dbs, steps_tokenizer):
    """The step count `clpbert run` / `config show` print (counted from the txt_db without torch)
    equals the one the trainer computes from its datasets, on 1, 3 and 4 processes."""
    from clpbert.data.datasets import build_dataset
    from clpbert.train.steps import launch_summary, plan_steps, total_steps

    head = "vqa" if task == "vqa" else preset(task).task.head
    txt, vis = train_txt_dbs[head]
    for world in (1, 3, 4):
        cfg = resolve_config(task, sets=[f"data.txt_db={txt}", f"data.vis_db={vis}"])
        adapt_global_batch(cfg, world, preset(task))
        ds = build_dataset(cfg, "train", True, steps_tokenizer, txt, vis)
        plan = plan_steps(cfg, world)
        assert plan.groups == len(ds) > 0
        steps = total_steps(len(ds), cfg, world)
        assert plan.total_steps == steps
        printed = launch_summary(cfg, world)[1]
        assert (f"optim.max_steps={steps} caps it" if cfg.optim.max_steps else f"= {steps} (") in printed


@pytest.fixture(scope="module")
def steps_tokenizer(tmp_path_factory):
    from clpbert.data.tokenizer import load_tokenizer

    vocab = tmp_path_factory.mktemp("tok")
    (vocab / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a"]) + "\n")
    return load_tokenizer(vocab)


def test_an_evaluation_preset_prints_no_batch_or_step_arithmetic():
    from clpbert.train.steps import launch_summary

    cfg = resolve_config("msrvtt_mc", sets=["data.txt_db=/nonexistent/txt_db"])
    assert launch_summary(cfg, 4) == ["evaluation only: no training steps (evaluates test)"]
