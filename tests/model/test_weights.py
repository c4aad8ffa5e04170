"""Weight files: the released layout, HF BERT directories, shape errors, unreadable files, inspection."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from clpbert.config import ModelConfig, TaskConfig, preset
from clpbert.errors import NotFoundError, UserError
from clpbert.model import (
    build_model,
    initialize,
    inspect_checkpoint,
    load_bert_dir,
    load_tokenizer,
    load_weights,
)
from clpbert.model.weights import load_state

MANIFEST = Path(__file__).resolve().parents[3] / "shared" / "spec" / "clipbert_pretrained_keys.json"
DETECTOR = ("cnn.feature.proposal_generator.", "cnn.feature.roi_heads.")


@pytest.fixture(scope="module")
def manifest() -> dict[str, list[int]]:
    if not MANIFEST.exists():
        pytest.skip(f"key manifest not found at {MANIFEST}")
    return json.loads(MANIFEST.read_text())["keys"]


def _meta_model(task: str):
    cfg = preset(task)
    with torch.device("meta"):
        return build_model(cfg.model, cfg.task)


def test_released_checkpoint_layout_loads_500_of_500_into_the_pretraining_model(manifest) -> None:
    assert len(manifest) == 500
    model = _meta_model("pretrain")  # full ResNet-50 + BERT-base shapes, no memory
    state = {k: torch.empty(shape, device="meta") for k, shape in manifest.items()}
    report = load_state(model, state, "clipbert", "released.pt")
    assert report.missing == [] and report.mis_shaped == []
    assert len(report.loaded) == 480
    assert len(report.unused) == 20 and all(k.startswith(DETECTOR) for k in report.unused)
    # strict on everything the model has: the 480 used keys are exactly its state dict
    assert set(report.loaded) == set(model.state_dict())


def test_released_layout_into_a_finetune_model_reports_head_and_detector(manifest) -> None:
    model = _meta_model("msrvtt_qa")
    state = {k: torch.empty(shape, device="meta") for k, shape in manifest.items()}
    report = load_state(model, state, "clipbert")
    assert sorted(report.missing) == sorted(f"transformer.classifier.{i}.{p}" for i in (0, 2)
                                            for p in ("weight", "bias"))
    assert len(report.unused) == 20 + 9  # detector + transformer.cls.*
    assert report.mis_shaped == []


def tiny_cfg() -> ModelConfig:
    return ModelConfig(cnn_blocks=[1, 1, 1, 1], cnn_width=8, hidden_size=32, num_layers=2, num_heads=4,
                       intermediate_size=37, vocab_size=99, max_position_embeddings=64, max_grid_size=8,
                       classifier_hidden=16)


def test_own_checkpoint_round_trips_values_and_keeps_tied_weights_tied(tmp_path: Path) -> None:
    torch.manual_seed(0)
    src = build_model(tiny_cfg(), TaskConfig(head="pretrain"))
    torch.save({"model": src.state_dict(), "step": 3}, tmp_path / "ckpt.pt")  # tied tensors stored twice
    dst = build_model(tiny_cfg(), TaskConfig(head="pretrain"))
    report = load_weights(dst, tmp_path / "ckpt.pt")
    assert report.missing == [] and report.unused == [] and report.format == "clipbert"
    for k, v in src.state_dict().items():
        torch.testing.assert_close(dst.state_dict()[k], v)
    tr = dst.transformer
    assert tr.cls.predictions.decoder.weight is tr.bert.embeddings.word_embeddings.weight


@pytest.fixture(scope="module")
def hf_bert_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    from transformers import BertConfig, BertForPreTraining

    torch.manual_seed(0)
    config = BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=37, max_position_embeddings=64)
    hf = BertForPreTraining(config).eval()
    with torch.no_grad():  # non-trivial LayerNorms, so a missed gamma/beta rename would show
        for name, p in hf.named_parameters():
            if "LayerNorm" in name:
                p.uniform_(0.5, 1.5)
    d = tmp_path_factory.mktemp("bert")
    hf.save_pretrained(d)
    (d / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "c"]))
    return d, hf


def test_hf_bert_directory_round_trips_into_our_transformer(hf_bert_dir) -> None:
    d, hf = hf_bert_dir
    model = build_model(tiny_cfg(), TaskConfig(head="pretrain")).eval()
    report = load_bert_dir(model, d)
    assert report.format == "hf_bert" and report.mis_shaped == []
    assert all(k.startswith("transformer.bert.visual_embeddings.") for k in report.missing), report.missing
    assert report.unused == []

    ids = torch.randint(5, 99, (2, 12))
    mask = torch.ones(2, 12, dtype=torch.long)
    mask[1, 8:] = 0
    bert = model.transformer.bert
    with torch.no_grad():
        ref = hf(input_ids=ids, attention_mask=mask)
        ref_seq = hf.bert(input_ids=ids, attention_mask=mask).last_hidden_state
        seq = bert.encoder(bert.embeddings(ids), mask)
        torch.testing.assert_close(seq[mask.bool()], ref_seq[mask.bool()], atol=1e-5, rtol=1e-4)
        mlm = model.transformer.cls.predictions(seq)
        torch.testing.assert_close(mlm[mask.bool()], ref.prediction_logits[mask.bool()], atol=1e-4, rtol=1e-4)
        itm = model.transformer.cls.seq_relationship(bert.pooler(seq))
        torch.testing.assert_close(itm, ref.seq_relationship_logits, atol=1e-5, rtol=1e-4)


def test_gamma_beta_layernorm_names_are_renamed(hf_bert_dir, tmp_path: Path) -> None:
    _, hf = hf_bert_dir
    old = {k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): v
           for k, v in hf.state_dict().items()}
    torch.save(old, tmp_path / "pytorch_model.bin")
    model = build_model(tiny_cfg(), TaskConfig(head="qa", num_labels=3))
    report = load_weights(model, tmp_path / "pytorch_model.bin")
    assert report.format == "hf_bert"
    ln = model.transformer.bert.encoder.layer[1].output.LayerNorm.weight
    torch.testing.assert_close(ln, hf.bert.encoder.layer[1].output.LayerNorm.weight)
    assert any(k.startswith("transformer.cls.") for k in report.unused)  # finetune model has no cls


def test_tokenizer_loads_from_the_local_directory(hf_bert_dir, tmp_path: Path) -> None:
    d, _ = hf_bert_dir
    tok = load_tokenizer(d)
    assert tok("a b", padding="max_length", max_length=6)["input_ids"] == [2, 5, 6, 3, 0, 0]
    with pytest.raises(NotFoundError):
        load_tokenizer(tmp_path)


def test_initialize_applies_cnn_bert_then_checkpoint(hf_bert_dir, tmp_path: Path) -> None:
    d, hf = hf_bert_dir
    model = build_model(tiny_cfg(), TaskConfig(head="qa", num_labels=3))
    reports = initialize(model, init_bert=str(d))
    assert [r.format for r in reports] == ["hf_bert"]
    torch.testing.assert_close(model.transformer.bert.pooler.dense.weight, hf.bert.pooler.dense.weight)


def test_wrong_shaped_file_is_one_user_error_naming_file_and_key(tmp_path: Path) -> None:
    model = build_model(tiny_cfg(), TaskConfig(head="qa", num_labels=3))
    path = tmp_path / "bad.pt"
    torch.save({"transformer.bert.pooler.dense.weight": torch.zeros(5, 5)}, path)
    with pytest.raises(UserError, match=r"bad\.pt.*transformer\.bert\.pooler\.dense\.weight.*\[5, 5\]"):
        load_weights(model, path)


def test_mismatched_task_head_is_reported_not_fatal(tmp_path: Path) -> None:
    src = build_model(tiny_cfg(), TaskConfig(head="qa", num_labels=7))
    torch.save(src.state_dict(), tmp_path / "qa7.pt")
    model = build_model(tiny_cfg(), TaskConfig(head="qa", num_labels=3))
    report = load_weights(model, tmp_path / "qa7.pt")
    assert [k for k, _, _ in report.mis_shaped] == ["transformer.classifier.2.weight",
                                                    "transformer.classifier.2.bias"]
    torch.testing.assert_close(model.transformer.classifier[0].weight, src.transformer.classifier[0].weight)


def test_inspect_reports_mis_shaped_keys(tmp_path: Path) -> None:
    path = tmp_path / "odd.pt"
    torch.save({"cnn.grid_encoder.0.weight": torch.zeros(2, 2, 3, 3),
                "transformer.bert.pooler.dense.bias": torch.zeros(768),
                "cnn.feature.roi_heads.box_head.fc1.bias": torch.zeros(3)}, path)
    report = inspect_checkpoint(path, "msrvtt_qa")
    assert report.format == "clipbert" and report.task == "msrvtt_qa"
    assert report.mis_shaped == [("cnn.grid_encoder.0.weight", [2, 2, 3, 3], [768, 2048, 3, 3])]
    assert report.loaded == ["transformer.bert.pooler.dense.bias"]
    assert report.unused == ["cnn.feature.roi_heads.box_head.fc1.bias"]
    d = report.to_dict()
    assert d["counts"]["mis_shaped"] == 1 and d["counts"]["missing"] == len(report.missing) > 400
    json.dumps(d)


@pytest.mark.parametrize("content", [b"", b"certainly not a checkpoint\x00\x01", b"PK\x03\x04broken zip"])
def test_garbage_file_raises_user_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "garbage.pt"
    path.write_bytes(content)
    with pytest.raises(UserError, match=r"garbage\.pt"):
        inspect_checkpoint(path, "msrvtt_qa")
    with pytest.raises(UserError, match=r"garbage\.pt"):
        load_weights(build_model(tiny_cfg(), TaskConfig(head="qa", num_labels=3)), path)


def test_garbage_safetensors_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "x.safetensors"
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    with pytest.raises(UserError, match=r"x\.safetensors"):
        inspect_checkpoint(path, "pretrain")
    with pytest.raises(NotFoundError, match=r"nope\.pt"):
        inspect_checkpoint(tmp_path / "nope.pt", "pretrain")
