"""Structure checks: safe torch loading and BERT folder completeness."""

from __future__ import annotations

import json
import pickle

import pytest

from clpbert.hub.verify import VerifyError, check_bert_dir, check_torch_file


class Payload:
    def __reduce__(self):
        return (print, ("pickle code ran",))


def test_torch_file_with_model_wrapper_counts_tensors(tmp_path):
    import torch

    torch.save({"model": {"backbone.stem.conv1.weight": torch.zeros(4, 3, 7, 7)}, "iteration": 5},
               tmp_path / "r50.pth")
    report = check_torch_file(tmp_path / "r50.pth")
    assert (report.tensors, report.elements) == (1, 4 * 3 * 7 * 7)


def test_pickle_with_code_is_refused(tmp_path, capsys):
    (tmp_path / "evil.pt").write_bytes(pickle.dumps({"x": Payload()}, protocol=2))
    with pytest.raises(VerifyError, match="weights_only=True"):
        check_torch_file(tmp_path / "evil.pt")
    assert "pickle code ran" not in capsys.readouterr().out


def test_torch_file_without_tensors_is_refused(tmp_path):
    import torch

    torch.save({"a": 1}, tmp_path / "empty.pt")
    with pytest.raises(VerifyError, match="holds no tensors"):
        check_torch_file(tmp_path / "empty.pt")


def test_bert_dir_needs_config_vocab_and_weights(tmp_path, hubkit):
    root = hubkit.write_bert_dir(tmp_path / "bert")
    assert check_bert_dir(root).tensors == 3
    (root / "vocab.txt").unlink()
    (root / "model.safetensors").unlink()
    with pytest.raises(VerifyError, match=r"missing vocab.txt, model.safetensors or pytorch_model.bin"):
        check_bert_dir(root)


def test_bert_dir_config_must_be_a_bert_config(tmp_path, hubkit):
    root = hubkit.write_bert_dir(tmp_path / "bert")
    (root / "config.json").write_text(json.dumps({"foo": 1}))
    with pytest.raises(VerifyError, match="no hidden_size"):
        check_bert_dir(root)


def test_truncated_safetensors_is_refused(tmp_path, hubkit):
    root = hubkit.write_bert_dir(tmp_path / "bert")
    data = (root / "model.safetensors").read_bytes()
    (root / "model.safetensors").write_bytes(data[:100])
    with pytest.raises(VerifyError, match="not a readable safetensors"):
        check_bert_dir(root)
