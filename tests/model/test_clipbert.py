"""ClipBert forward semantics, heads, clip aggregation and losses on a tiny model (CPU)."""

from __future__ import annotations

import time

import pytest
import torch
import torch.nn.functional as F

from clpbert.config import ModelConfig, TaskConfig
from clpbert.model import (
    PretrainOutput,
    aggregate_clip_scores,
    build_model,
    clip_loss,
    mc_option_logits,
    resolve_num_labels,
)
from clpbert.model.embeddings import VisualEmbeddings

L = 128  # -> 2x2 visual grid (stride 64)


def tiny(**kw) -> ModelConfig:
    base = dict(cnn_blocks=[1, 1, 1, 1], cnn_width=8, cnn_norm="frozen_bn", cnn_freeze_at=2, hidden_size=32,
                num_layers=2, num_heads=4, intermediate_size=64, vocab_size=50, max_position_embeddings=32,
                max_grid_size=8, classifier_hidden=48)
    base.update(kw)
    return ModelConfig(**base)


def frames(b: int, n: int, t: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (b, n, t, 3, L, L), dtype=torch.uint8, generator=g)


def texts(bt: int, lt: int = 10, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, 50, (bt, lt), generator=g)
    mask = torch.ones(bt, lt, dtype=torch.long)
    mask[::2, 7:] = 0  # every other text padded
    ids[mask == 0] = 0
    return ids, mask


@pytest.mark.parametrize(("head", "k"), [("qa", 17), ("mc", 1), ("retrieval", 2)])
def test_task_heads_return_one_logit_row_per_text_and_clip(head: str, k: int) -> None:
    torch.manual_seed(0)
    model = build_model(tiny(), TaskConfig(head=head, num_labels=17)).eval()
    visual = model.encode_video(frames(2, 3, 2))
    assert visual.shape == (2, 3, 2, 2, 32)  # (B, N, h, w, D)
    ids, mask = texts(5)
    logits = model.score(visual, ids, mask, torch.tensor([3, 2]))
    assert logits.shape == (5, 3, k)


def test_pretrain_head_returns_text_mlm_and_itm_logits() -> None:
    torch.manual_seed(0)
    model = build_model(tiny(), TaskConfig(head="pretrain")).eval()
    ids, mask = texts(4)
    out = model(frames(2, 1, 1), ids, mask, torch.tensor([2, 2]))
    assert isinstance(out, PretrainOutput)
    assert out.mlm_logits.shape == (4, 10, 50)
    assert out.itm_logits.shape == (4, 2)
    tr = model.transformer
    assert tr.cls.predictions.decoder.weight is tr.bert.embeddings.word_embeddings.weight


def test_num_labels_per_head() -> None:
    assert resolve_num_labels(TaskConfig(head="qa", num_labels=1000, min_num_labels=1500)) == 1500
    assert resolve_num_labels(TaskConfig(head="qa", min_num_labels=1540), num_labels=1600) == 1600
    assert resolve_num_labels(TaskConfig(head="mc", num_labels=5)) == 1
    assert resolve_num_labels(TaskConfig(head="retrieval")) == 2


def test_repeats_pair_each_text_with_its_own_video_and_clips_are_independent() -> None:
    torch.manual_seed(0)
    model = build_model(tiny(), TaskConfig(head="qa", num_labels=5)).eval()
    fr = frames(2, 3, 2)
    ids, mask = texts(3)
    with torch.no_grad():
        batched = model(fr, ids, mask, torch.tensor([1, 2]))  # (3, 3, 5)
        # the original: one full forward per clip and per (video, text) pair
        for i, v in enumerate([0, 1, 1]):
            for c in range(3):
                single = model(fr[v : v + 1, c : c + 1], ids[i : i + 1], mask[i : i + 1])
                torch.testing.assert_close(batched[i, c], single[0, 0], atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="repeats"):
        model(fr, ids, mask, torch.tensor([1, 1]))
    assert (batched[1] - batched[0]).abs().max() > 1e-5  # texts differ
    assert (batched[1, 0] - batched[1, 1]).abs().max() > 0  # clips differ (tiny at BERT init)


def test_padded_text_tokens_do_not_change_the_logits() -> None:
    torch.manual_seed(0)
    model = build_model(tiny(), TaskConfig(head="qa", num_labels=5)).eval()
    visual = model.encode_video(frames(1, 1, 1))
    ids, mask = texts(1)
    mask[:, 6:] = 0
    other = ids.clone()
    other[:, 6:] = 33  # garbage behind the mask
    with torch.no_grad():
        torch.testing.assert_close(model.score(visual, ids, mask), model.score(visual, other, mask))


def test_uint8_and_float_frames_agree_and_mean_is_subtracted_before_the_bgr_flip() -> None:
    model = build_model(tiny(), TaskConfig(head="qa", num_labels=5)).eval()
    fr = frames(1, 1, 2)
    with torch.no_grad():
        torch.testing.assert_close(model.encode_video(fr), model.encode_video(fr.float()))
    pixel = torch.tensor([200.0, 100.0, 50.0]).view(1, 3, 1, 1)
    out = model.cnn.preprocess(pixel).flatten().tolist()
    assert out == pytest.approx([50 - 103.53, 100 - 116.28, 200 - 123.675])  # BGR


def test_temporal_mean_over_frames() -> None:
    model = build_model(tiny(), TaskConfig(head="qa", num_labels=5)).eval()
    fr = frames(1, 1, 2)
    with torch.no_grad():
        both = model.encode_video(fr)
        each = [model.encode_video(fr[:, :, t : t + 1]) for t in range(2)]
    torch.testing.assert_close(both, (each[0] + each[1]) / 2, atol=1e-4, rtol=1e-5)


def test_sdpa_and_eager_attention_agree_and_channels_last_is_the_same_function() -> None:
    torch.manual_seed(0)
    model = build_model(tiny(), TaskConfig(head="qa", num_labels=5)).eval()
    fr, (ids, mask) = frames(2, 1, 1), texts(2)
    with torch.no_grad():
        ref = model(fr, ids, mask)
        model.set_attention("eager")
        torch.testing.assert_close(model(fr, ids, mask), ref, atol=1e-5, rtol=1e-4)
        model.set_attention("sdpa")
        model.to_channels_last()
        assert model.cnn.grid_encoder[0].weight.is_contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(model(fr, ids, mask), ref, atol=1e-4, rtol=1e-4)


def test_frozen_stem_and_res2_get_no_gradient() -> None:
    torch.manual_seed(0)
    model = build_model(tiny(cnn_freeze_at=2), TaskConfig(head="qa", num_labels=5)).train()
    ids, mask = texts(2)
    logits = model(frames(2, 1, 1), ids, mask)
    clip_loss(logits, torch.tensor([1, 3]), "mean").backward()
    bb = model.cnn.feature.backbone
    assert all(p.grad is None and not p.requires_grad for p in [*bb.stem.parameters(), *bb.res2.parameters()])
    assert bb.res3[0].conv1.weight.grad is not None and bb.res3[0].conv1.weight.grad.abs().sum() > 0
    assert model.cnn.grid_encoder[0].weight.grad is not None
    names = [n for n, _ in model.named_cnn_parameters()]
    assert names and all(n.startswith("cnn.") and ".res2." not in n and ".stem." not in n for n in names)
    assert all(n.startswith("transformer.") for n, _ in model.named_transformer_parameters())


def test_trainable_bn_in_frozen_stages_keeps_its_statistics() -> None:
    model = build_model(tiny(cnn_norm="bn", cnn_freeze_at=1), TaskConfig(head="qa", num_labels=5)).train()
    stem_bn = model.cnn.feature.backbone.stem.conv1.norm
    res2_bn = model.cnn.feature.backbone.res2[0].conv1.norm
    before = stem_bn.running_mean.clone(), res2_bn.running_mean.clone()
    model(frames(2, 1, 1), *texts(2))
    assert torch.equal(stem_bn.running_mean, before[0])  # frozen stage: eval-mode BN
    assert not torch.equal(res2_bn.running_mean, before[1])  # trained stage: statistics move


def test_pixel_random_sampling_only_in_train_mode() -> None:
    emb = VisualEmbeddings(tiny(pixel_random_sampling_size=3))
    grid = torch.randn(2, 2, 2, 32)
    assert emb.train()(grid).shape == (2, 3, 32)
    assert emb.eval()(grid).shape == (2, 4, 32)


def test_aggregation_matches_hand_computed_values() -> None:
    logits = torch.tensor([[[1.0, 2.0], [3.0, 0.0]]])  # (B'=1, N=2, K=2)
    torch.testing.assert_close(aggregate_clip_scores(logits, "mean"), torch.tensor([[2.0, 1.0]]))
    torch.testing.assert_close(aggregate_clip_scores(logits, "max"), torch.tensor([[3.0, 2.0]]))
    lse = torch.tensor([[torch.log(torch.exp(torch.tensor(1.0)) + torch.exp(torch.tensor(3.0))),
                         torch.log(torch.exp(torch.tensor(2.0)) + 1.0)]])
    torch.testing.assert_close(aggregate_clip_scores(logits, "lse"), lse)
    with pytest.raises(ValueError):
        aggregate_clip_scores(logits, "median")


def test_lse_loss_is_the_spec_formula() -> None:
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(4, 3, 5, generator=g)
    labels = torch.tensor([0, 4, 2, 2])
    # spec §1.9: logsumexp_{c,k} logits[i,c,k] - logsumexp_c logits[i,c,y], averaged over i
    manual = torch.stack([torch.logsumexp(logits[i].flatten(), 0)
                          - torch.logsumexp(logits[i, :, labels[i]], 0) for i in range(4)]).mean()
    torch.testing.assert_close(clip_loss(logits, labels, "lse"), manual)
    torch.testing.assert_close(clip_loss(logits, labels, "mean"), F.cross_entropy(logits.mean(1), labels))
    with pytest.raises(ValueError):
        clip_loss(logits, labels, "lse", loss_type="bce")


def test_bce_loss_is_vqa_style_times_num_labels() -> None:
    logits = torch.tensor([[[0.5, -1.0, 2.0]]])  # (1, 1, 3)
    target = torch.tensor([[1.0, 0.0, 0.3]])
    z = logits[:, 0]
    manual = -(target * F.logsigmoid(z) + (1 - target) * F.logsigmoid(-z)).sum() / 1
    torch.testing.assert_close(clip_loss(logits, target, "mean", loss_type="bce"), manual)


def test_mc_option_logits_aggregate_per_option_then_ce_over_options() -> None:
    logits = torch.arange(2 * 5 * 3, dtype=torch.float).view(10, 3, 1)  # (B*opts, N, 1)
    per = mc_option_logits(logits, 5)  # (B, N, opts)
    assert per.shape == (2, 3, 5)
    assert per[1, 2, 4] == logits[1 * 5 + 4, 2, 0]


def test_small_model_overfits_a_handful_of_examples() -> None:
    torch.manual_seed(0)
    cfg = tiny(cnn_norm="bn", cnn_freeze_at=0, hidden_dropout=0.0, attention_dropout=0.0)
    model = build_model(cfg, TaskConfig(head="qa", num_labels=4)).train()
    g = torch.Generator().manual_seed(3)
    fr = torch.randint(0, 256, (8, 2, 1, 3, 64, 64), dtype=torch.uint8, generator=g)  # 1x1 grid
    ids, mask = texts(8, seed=3)
    labels = torch.tensor([0, 1, 2, 3, 3, 2, 1, 0])
    opt = torch.optim.AdamW(model.parameters(), lr=5e-3)
    start = time.process_time()  # CPU seconds: robust to other jobs sharing the cores
    first = None
    for _ in range(40):
        loss = clip_loss(model(fr, ids, mask), labels, "lse")
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
        if loss.item() < 0.02:
            break
    assert first > 1.0
    assert loss.item() < 0.05, loss.item()
    assert time.process_time() - start < 20


@pytest.mark.parametrize("head", ["qa", "pretrain"])
def test_every_trainable_parameter_gets_a_gradient(head: str) -> None:
    """DDP without find_unused_parameters needs this (the unused visual position table is frozen)."""
    torch.manual_seed(0)
    model = build_model(tiny(cnn_freeze_at=1), TaskConfig(head=head, num_labels=5)).train()
    ids, mask = texts(2)
    out = model(frames(2, 1, 1), ids, mask)
    if head == "pretrain":
        loss = out.mlm_logits.float().logsumexp(-1).mean() + out.itm_logits.float().logsumexp(-1).mean()
    else:
        loss = clip_loss(out, torch.tensor([1, 3]), "mean")
    loss.backward()
    no_grad = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert no_grad == []
