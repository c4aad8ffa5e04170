"""The `rank` retrieval loss (spec §1.7, §4.2 config history): one output, hinge with margin 0.2 on
sigmoid scores of each video's positive against its negatives."""

from __future__ import annotations

import pytest
import torch

from clpbert.config import resolve_config
from clpbert.errors import ConfigError
from clpbert.model import build_model, clip_loss
from tests.tiny_configs import TINY_CNN, TINY_NET


def test_rank_loss_is_the_hinge_on_sigmoid_scores_of_positive_vs_negatives():
    # 2 videos x (1 positive + 2 negatives), 3 clips, one output each
    logits = torch.tensor([[2.0, 0.0, 1.0], [0.5, 0.5, 0.5], [-1.0, -1.0, -1.0],
                           [0.0, 0.0, 0.0], [0.2, 0.2, 0.2], [-3.0, -3.0, -3.0]]).unsqueeze(-1)
    labels = torch.tensor([1, 0, 0, 1, 0, 0])
    s = logits.mean(dim=1)[:, 0].sigmoid()
    expected = torch.stack([torch.clamp(0.2 + s[1] - s[0], min=0), torch.clamp(0.2 + s[2] - s[0], min=0),
                            torch.clamp(0.2 + s[4] - s[3], min=0), torch.clamp(0.2 + s[5] - s[3], min=0)])
    got = clip_loss(logits, labels, "mean", "rank", margin=0.2)
    assert got.item() == pytest.approx(expected.mean().item(), rel=1e-6)
    assert got.item() > 0  # video 2: sigmoid(0.2) - sigmoid(0) + 0.2 > 0
    far = torch.tensor([[9.0], [-9.0], [-9.0]]).unsqueeze(1).expand(3, 2, 1)
    assert clip_loss(far, torch.tensor([1, 0, 0]), "max", "rank").item() == 0.0  # beyond the margin


def test_rank_config_gives_a_one_output_retrieval_head_and_only_for_retrieval():
    cfg = resolve_config("msrvtt_ret", sets=["task.loss_type=rank", "task.score_agg_func=mean"])
    with torch.device("meta"):
        model = build_model(cfg.model, cfg.task)
    assert model.transformer.classifier[-1].out_features == 1 and cfg.task.margin == 0.2
    with pytest.raises(ConfigError, match="lse needs"):
        resolve_config("msrvtt_ret", sets=["task.loss_type=rank"])  # lse is for ce only
    with pytest.raises(ConfigError, match="retrieval loss"):
        resolve_config("msrvtt_qa", sets=["task.loss_type=rank", "task.score_agg_func=mean"])


def test_retrieval_task_trains_with_the_rank_loss():
    from clpbert.task_specs import spec_of

    tiny = [*TINY_NET, *TINY_CNN]
    cfg = resolve_config("msrvtt_ret", sets=["task.loss_type=rank", "task.score_agg_func=max", *tiny])
    torch.manual_seed(0)
    model = build_model(cfg.model, cfg.task)
    batch = {"frames": torch.randint(0, 255, (2, 2, 1, 3, 64, 64), dtype=torch.uint8),
             "input_ids": torch.randint(5, 100, (4, 8)), "attention_mask": torch.ones(4, 8, dtype=torch.long),
             "repeats": torch.tensor([2, 2]), "labels": torch.tensor([1, 0, 1, 0])}
    out = spec_of("msrvtt_ret").train_task().loss(model, batch, cfg)
    out.loss.backward()
    assert torch.isfinite(out.loss) and model.transformer.classifier[-1].weight.grad.abs().sum() > 0
