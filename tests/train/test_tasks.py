"""Every preset resolves, builds its model (meta device: no memory) and has a registered task."""

from __future__ import annotations

import pytest
import torch

from clpbert.config import PRESETS, resolve_config
from clpbert.model import build_model
from clpbert.train.tasks import TASKS, get_task, lower_is_better


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_builds_with_its_task(name: str):
    cfg = resolve_config(name)
    task = get_task(name)
    assert task.head == cfg.task.head
    assert task.default_metric in task.eval_columns
    with torch.device("meta"):
        model = build_model(cfg.model, cfg.task)
    names = [n for n, _ in model.named_parameters()]
    assert any(n.startswith("cnn.") for n in names) and any(n.startswith("transformer.") for n in names)
    assert task.trainable == (cfg.kind != "eval")


def test_registry_lists_only_presets_and_unknown_is_a_config_error():
    from clpbert.errors import ConfigError

    assert set(TASKS) == set(PRESETS)
    with pytest.raises(ConfigError, match="known"):
        get_task("nope")


def test_metric_direction():
    assert lower_is_better("t2v/mdr") and lower_is_better("loss")
    assert not lower_is_better("acc") and not lower_is_better("t2v/r1")
