"""Finetuning presets start from the registered `pretrained` checkpoint; without one a launch refuses
in one line, and `--init none` is the explicit, visible choice of random weights (issue 15.2)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from clpbert.config import preset
from tests.tiny_configs import TINY_CNN, TINY_MODEL

TINY = [*TINY_MODEL, *TINY_CNN, "data.num_workers=0", "data.train_n_clips=1", "data.num_frm=1",
        "optim.max_steps=200"]


def test_presets_carry_the_originals_init():
    for task in ("msrvtt_ret", "didemo_ret", "anet_ret", "msrvtt_qa", "tgif_qa_action", "tgif_qa_transition",
                 "tgif_qa_frameqa", "vqa"):
        assert preset(task).runtime.init_checkpoint == "pretrained", task
    pre = preset("pretrain").runtime
    assert (pre.init_checkpoint, pre.init_cnn, pre.init_bert) == ("", "grid-feat-r50", "bert-base-uncased")
    demo = preset("demo").runtime
    assert (demo.init_checkpoint, demo.init_cnn, demo.init_bert) == ("", "", "")  # from scratch by design


@pytest.fixture(scope="module")
def ret_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from clpbert.data.demo import generate_demo_dataset, write_caption_txt_db

    data = generate_demo_dataset(tmp_path_factory.mktemp("demo") / "demo", n_train=8, n_val=4, workers=0)
    write_caption_txt_db(data)
    return data


def _kill(run_id: str) -> None:
    from clpbert.registry import open_registry
    from clpbert.runs import procs
    from clpbert.runs.lifecycle import ACTIVE_STATES

    with open_registry() as reg:
        run = reg.get_run(run_id)
        if run.supervisor_pid and str(run.state) in ACTIVE_STATES:
            procs.kill_tree(run.supervisor_pid)


@pytest.mark.slow
def test_finetune_without_pretrained_refuses_and_init_none_starts_marked_random(
        clpbert_home: Path, ret_dataset: Path, inproc, request):
    from clpbert.registry import open_registry

    with open_registry() as reg:
        reg.add_dataset("ret", format="msrvtt_ret", task="msrvtt_ret", txt_db=str(ret_dataset / "ret_txt_db"),
                        vis_db=str(ret_dataset / "vis_db"), tokenizer=str(ret_dataset / "tokenizer"))
    res = inproc("run", "finetune", "--task", "msrvtt_ret", "--dataset", "ret")
    code, out, err = res.returncode, res.stdout, res.stderr
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert "clpbert download pretrained --from PATH" in lines[0] and "--init none" in lines[0]
    assert json.loads(inproc("runs", "list", "--json").stdout) == []  # nothing created

    sets = [x for s in TINY for x in ("--set", s)]
    res = inproc("run", "finetune", "--task", "msrvtt_ret", "--dataset", "ret", "--init", "none",
                 *sets, "--json")
    code, out, err = res.returncode, res.stdout, res.stderr
    assert code == 0, err
    run = json.loads(out)
    request.addfinalizer(lambda: _kill(run["id"]))
    # the launch prints the batch arithmetic: the preset's 64 videos per step, on one CPU process
    assert "global batch 64 = 16 per process x 1 process x accumulation 4" in err
    assert "steps: 20 epochs x 8 examples / global batch 64 = 3 " in err
    config = (Path(run["run_dir"]) / "config.yaml").read_text()
    assert "grad_accum: 4" in config and "init_checkpoint: none" in config
    shown = json.loads(inproc("runs", "show", run["id"], "--json").stdout)
    assert shown["init"] == {"random": True, "from": "random weights (--init none)"}
    text = inproc("runs", "show", run["id"]).stdout
    assert "random weights (--init none)" in text
    deadline = time.monotonic() + 180
    while json.loads(inproc("runs", "show", run["id"], "--json").stdout)["state"] == "queued":
        assert time.monotonic() < deadline
        time.sleep(0.5)
    assert json.loads(inproc("runs", "show", run["id"], "--json").stdout)["state"] in (
        "starting", "running", "finished")
