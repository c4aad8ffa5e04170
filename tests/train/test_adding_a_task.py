"""README "Adding a task", done in-process: a toy task added through exactly the listed edits (a
preset, a Task, the one TaskSpec naming both) trains, evaluates and predicts on tiny data, and
nothing else needed to know its name: presets, the dataset builder, the frame rule, predict and the
trainer all ask its one record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.train.conftest import TINY

TOY = "toy_colour_qa"


@pytest.fixture
def toy_task():
    """The edits of README "Adding a task", made in this process and undone after."""
    from clpbert.config import preset
    from clpbert.task_specs import TaskSpec, register_spec, unregister_spec
    from clpbert.train.tasks.qa import QATask

    def preset_toy():  # 1. its preset: the demo's model and data, under its own name
        cfg = preset("demo")
        cfg.task.name = TOY
        cfg.data.dataset = ""
        return cfg

    # 2. its trainer side: head, loss and evaluation (QA's), metrics
    toy = QATask(TOY, eval_columns=("acc",), description="toy: the demo's questions")
    # 3. its one record: preset, dataset builder, image/video, predict mode, trainer side
    register_spec(TaskSpec(TOY, preset_toy, dataset="qa", media="video", predict="qa", trainer=lambda: toy))
    yield TOY
    unregister_spec(TOY)


def test_a_toy_task_trains_evaluates_and_predicts(toy_task, tiny_demo: Path, tmp_path: Path):
    from clpbert.config import PRESETS, resolve_config
    from clpbert.data.demo import make_video
    from clpbert.predict import Predictor, frame_spec, mode_of
    from clpbert.task_specs import spec_of
    from clpbert.train.loop import Trainer

    assert TOY in PRESETS and mode_of(TOY) == "qa"
    assert spec_of(TOY).train_task().name == TOY
    data = [f"data.txt_db={tiny_demo / 'txt_db'}", f"data.vis_db={tiny_demo / 'vis_db'}",
            f"data.tokenizer={tiny_demo / 'tokenizer'}"]
    cfg = resolve_config(TOY, sets=[*data, *TINY, "optim.max_steps=4", "eval.num_valid=1",
                                    "data.num_workers=0"])
    assert cfg.task.name == TOY and cfg.task.head == "qa"
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    trainer = Trainer(cfg, run_dir, resume=False)
    try:
        trainer.run()
    finally:
        trainer.events.close()
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    evals = [e for e in events if e["event"] == "eval"]
    assert evals and "acc" in evals[-1]["metrics"]
    assert (run_dir / "checkpoints" / "best.pt").is_file()

    predictor = Predictor.from_ref(str(run_dir), device="cpu")
    assert predictor.cfg.task.name == TOY
    assert frame_spec(predictor.cfg).key() == frame_spec(cfg).key()  # predict samples as evaluation did
    video = tmp_path / "v.mp4"
    _, mp4, *_ = make_video((3, "val", 0, 64, 2.0, 4, 8, ("color", "count")))
    video.write_bytes(mp4)
    results = predictor.qa([str(video)], ["what colour is the shape?"], top_k=2)
    assert not results.errors and len(results.predictions) == 1
    assert len(results.predictions[0].answers) == 2


def test_the_task_decides_image_or_video(toy_task):
    from clpbert.config import preset
    from clpbert.data.frame_spec import frame_spec
    from clpbert.task_specs import SPECS, TaskSpec, register_spec

    cfg = preset(TOY)
    assert not frame_spec(cfg).image_model
    register_spec(TaskSpec(TOY, SPECS[TOY].preset, dataset="qa", media="image", predict="qa",
                           trainer=SPECS[TOY].trainer))
    spec = frame_spec(cfg)
    assert spec.image_model and (spec.plan.n_clips, spec.plan.num_frm) == (1, 1)


def test_unregistering_the_toy_forgets_its_one_record(toy_task):
    """One record per task: removing the spec removes the task everywhere (no trainer-side table
    keeps it)."""
    from clpbert.config import PRESETS
    from clpbert.errors import ConfigError
    from clpbert.task_specs import spec_of, unregister_spec

    assert spec_of(TOY).train_task().name == TOY
    unregister_spec(TOY)
    assert TOY not in PRESETS
    with pytest.raises(ConfigError, match="unknown task"):
        spec_of(TOY).train_task()
