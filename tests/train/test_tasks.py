"""Every preset resolves, builds its model (meta device: no memory) and its task record names its trainer."""

from __future__ import annotations

import pytest
import torch

from clpbert.config import PRESETS, resolve_config
from clpbert.model import build_model
from clpbert.task_specs import spec_of, task_names
from clpbert.train.tasks import lower_is_better


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_builds_with_its_task(name: str):
    cfg = resolve_config(name)
    task = spec_of(name).train_task()
    assert task.head == cfg.task.head
    assert task.default_metric in task.eval_columns
    with torch.device("meta"):
        model = build_model(cfg.model, cfg.task)
    names = [n for n, _ in model.named_parameters()]
    assert any(n.startswith("cnn.") for n in names) and any(n.startswith("transformer.") for n in names)
    assert task.trainable == (cfg.kind != "eval")


def test_one_record_per_task_and_unknown_is_a_config_error():
    """The task records are the presets, each naming its own trainer side by import path (so
    listing tasks loads no torch); no second table of tasks exists."""
    import clpbert.train.tasks as trainer_side
    from clpbert.errors import ConfigError

    assert set(task_names()) == set(PRESETS)
    for name in task_names():
        assert isinstance(spec_of(name).trainer, str)
        assert spec_of(name).train_task().name == name
        assert spec_of(name).train_task() is spec_of(name).train_task()
    assert not hasattr(trainer_side, "TASKS") and not hasattr(trainer_side, "get_task")
    with pytest.raises(ConfigError, match="known"):
        spec_of("nope").train_task()


def test_a_trainer_of_another_task_is_refused():
    from clpbert.task_specs import TaskSpec, register_spec, unregister_spec

    spec = register_spec(TaskSpec("mislabelled", spec_of("demo").preset, dataset="qa",
                                  trainer="clpbert.train.tasks.demo:DEMO"))
    try:
        with pytest.raises(ValueError, match="the Task of 'demo'"):
            spec.train_task()
    finally:
        unregister_spec("mislabelled")


def test_metric_direction():
    assert lower_is_better("t2v/mdr") and lower_is_better("loss")
    assert not lower_is_better("acc") and not lower_is_better("t2v/r1")
