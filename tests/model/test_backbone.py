"""The detectron2-layout ResNet: stride placement, output stride, torchvision weight remap."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn
from torchvision.ops import FrozenBatchNorm2d as TvFrozenBN

from clpbert.config import ModelConfig, TaskConfig
from clpbert.model import build_model, load_weights
from clpbert.model.backbone import FrozenBatchNorm2d, ResNet


def test_stage_stride_sits_on_the_1x1_conv_and_res5_is_undilated() -> None:
    net = ResNet([1, 1, 1, 1], width=8)
    for s in (3, 4, 5):
        block = getattr(net, f"res{s}")[0]
        assert block.conv1.stride == (2, 2) and block.conv2.stride == (1, 1)
        assert block.conv2.dilation == (1, 1) and block.shortcut.stride == (2, 2)
    assert net.res2[0].conv1.stride == (1, 1)
    assert net(torch.zeros(1, 3, 128, 96)).shape == (1, 256, 4, 3)  # stride 32, 32*width channels


def test_frozen_bn_is_the_v3_formula_with_buffers_only() -> None:
    bn = FrozenBatchNorm2d(3)
    bn.weight.copy_(torch.tensor([1.0, 2.0, 0.5]))
    bn.bias.copy_(torch.tensor([0.0, 1.0, -1.0]))
    bn.running_mean.copy_(torch.tensor([0.5, -1.0, 2.0]))
    bn.running_var.copy_(torch.tensor([4.0, 1.0, 0.25]))
    x = torch.randn(2, 3, 4, 4)
    scale = bn.weight / torch.sqrt(bn.running_var + 1e-5)
    expect = (x - bn.running_mean.view(1, 3, 1, 1)) * scale.view(1, 3, 1, 1) + bn.bias.view(1, 3, 1, 1)
    torch.testing.assert_close(bn(x), expect)
    assert list(bn.parameters()) == []
    assert set(bn.state_dict()) == {"weight", "bias", "running_mean", "running_var"}
    assert bn(x.half()).dtype == torch.float16  # no promotion to fp32 under autocast


def _torchvision_body(net: nn.Module) -> nn.Module:
    return nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool,
                         net.layer1, net.layer2, net.layer3, net.layer4)


def test_torchvision_resnet50_remaps_and_matches_torchvision_with_strides_moved(tmp_path: Path) -> None:
    torch.manual_seed(0)
    tv = torchvision.models.resnet50(weights=None, norm_layer=TvFrozenBN).eval()
    with torch.no_grad():  # non-trivial statistics so a wrong bn mapping would show
        for m in tv.modules():
            if isinstance(m, TvFrozenBN):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
    path = tmp_path / "resnet50.pth"
    torch.save(tv.state_dict(), path)

    cfg = ModelConfig(hidden_size=32, num_layers=1, num_heads=4, intermediate_size=32, vocab_size=30,
                      max_position_embeddings=16, classifier_hidden=16)  # full ResNet-50, tiny BERT
    model = build_model(cfg, TaskConfig(head="qa", num_labels=3)).eval()
    report = load_weights(model, path)
    assert report.format == "torchvision"
    assert report.missing == [] and report.mis_shaped == []
    assert sorted(report.unused) == ["fc.bias", "fc.weight"]
    assert len(report.loaded) == 265  # every backbone tensor of the released layout

    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        ours = model.cnn.feature.backbone(x)
        plain = _torchvision_body(tv)(x)  # torchvision v1.5: stride on the 3x3
        for layer in (tv.layer2, tv.layer3, tv.layer4):
            layer[0].conv1.stride, layer[0].conv2.stride = (2, 2), (1, 1)
        patched = _torchvision_body(tv)(x)
    torch.testing.assert_close(ours, patched, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(ours, plain, atol=1e-3)


@pytest.mark.parametrize("wrap", ["flat", "model", "module"])
def test_detectron2_grid_feat_checkpoint_loads_into_the_backbone(tmp_path: Path, wrap: str) -> None:
    cfg = ModelConfig(cnn_blocks=[1, 1, 1, 1], cnn_width=8, hidden_size=16, num_layers=1, num_heads=2,
                      intermediate_size=16, vocab_size=20, max_position_embeddings=8, classifier_hidden=8)
    src = build_model(cfg, TaskConfig(head="qa", num_labels=3))
    with torch.no_grad():
        for t in src.cnn.feature.backbone.state_dict().values():
            t.uniform_(0.5, 1.0)
    sd = {f"backbone.{k}": v for k, v in src.cnn.feature.backbone.state_dict().items()}
    sd["roi_heads.box_head.fc1.weight"] = torch.zeros(4, 4)
    if wrap == "module":
        sd = {f"module.{k}": v for k, v in sd.items()}
    obj = {"model": sd, "iteration": 7} if wrap == "model" else sd
    torch.save(obj, tmp_path / "grid_feat_R-50.pth")

    model = build_model(cfg, TaskConfig(head="qa", num_labels=3))
    report = load_weights(model, tmp_path / "grid_feat_R-50.pth")
    assert report.format == "detectron2"
    assert report.missing == [] and report.unused == ["cnn.feature.roi_heads.box_head.fc1.weight"]
    for k, v in src.cnn.feature.backbone.state_dict().items():
        torch.testing.assert_close(model.cnn.feature.backbone.state_dict()[k], v)
