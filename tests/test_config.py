"""The typed run config: presets, YAML round trip, typed overrides, precedence."""

from __future__ import annotations

from pathlib import Path

import pytest

from clpbert import config as C
from clpbert.errors import ConfigError


@pytest.mark.parametrize("task", list(C.PRESETS))
def test_every_preset_resolves_and_round_trips_through_yaml(task: str, tmp_path: Path) -> None:
    cfg = C.resolve_config(task)
    path = tmp_path / "config.yaml"
    C.save_config(cfg, path)
    assert C.load_config(path) == cfg


def test_presets_carry_the_original_hyper_parameters() -> None:
    qa = C.preset("msrvtt_qa")
    assert (qa.data.max_txt_len, qa.data.max_img_size, qa.data.fps, qa.data.num_frm) == (100, 448, 2, 2)
    assert (qa.data.train_n_clips, qa.task.score_agg_func, qa.task.num_labels) == (8, "lse", 1500)
    assert (qa.eval.num_valid, qa.eval.min_valid_steps) == (10, 50)
    anet = C.preset("anet_ret")
    assert (anet.data.fps, anet.data.train_n_clips, anet.optim.grad_accum, anet.optim.epochs) == (1, 4, 2, 80)
    tgif = C.preset("tgif_qa_action")
    assert (tgif.task.head, tgif.data.max_img_size, tgif.task.score_agg_func) == ("mc", 768, "mean")
    vqa = C.preset("vqa")
    assert (vqa.optim.lr, vqa.optim.grad_norm) == (1e-4, 2.0)
    assert (vqa.task.loss_type, vqa.task.num_labels) == ("bce", 3129)
    pre = C.preset("pretrain")
    assert pre.model.pixel_random_sampling_size == 100
    assert (pre.data.max_n_example_per_group, pre.optim.epochs) == (2, 40)
    for cfg in (qa, anet, tgif, vqa, pre):
        assert (cfg.optim.eps, cfg.optim.betas, cfg.optim.weight_decay, cfg.optim.warmup_ratio) == (
            1e-6, [0.9, 0.98], 1e-3, 0.1)


def test_set_overrides_are_type_checked() -> None:
    cfg = C.resolve_config("msrvtt_qa", sets=["optim.lr=1e-4", "data.num_frm=4", "runtime.compile=true",
                                              "model.cnn_blocks=1,1,1,1"])
    assert cfg.optim.lr == 1e-4 and cfg.data.num_frm == 4 and cfg.runtime.compile is True
    assert cfg.model.cnn_blocks == [1, 1, 1, 1]
    with pytest.raises(ConfigError, match="expected int"):
        C.resolve_config("msrvtt_qa", sets=["data.num_frm=2.5"])
    with pytest.raises(ConfigError, match="expected bool"):
        C.resolve_config("msrvtt_qa", sets=["runtime.compile=maybe"])
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        C.resolve_config("msrvtt_qa", sets=["optim.lr"])


def test_unknown_keys_name_the_closest_valid_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"did you mean 'optim\.lr'"):
        C.resolve_config("msrvtt_qa", sets=["optim.lrr=1"])
    path = tmp_path / "c.yaml"
    path.write_text("data:\n  max_txt_length: 30\n")
    with pytest.raises(ConfigError, match=r"did you mean 'data\.max_txt_len'"):
        C.resolve_config("msrvtt_qa", config_file=path)
    with pytest.raises(ConfigError, match="did you mean 'msrvtt_qa'"):
        C.preset("msrvtt_q")


def test_precedence_flag_over_env_over_file_over_preset(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("optim:\n  lr: 0.001\n  cnn_lr: 0.002\n  grad_accum: 3\n")
    env = {"CLPBERT_OPTIM__LR": "0.01", "CLPBERT_OPTIM__CNN_LR": "0.02", "CLPBERT_HOME": "/ignored"}
    cfg = C.resolve_config("msrvtt_qa", config_file=path, environ=env, sets=["optim.lr=0.1"])
    assert cfg.optim.lr == 0.1  # flag
    assert cfg.optim.cnn_lr == 0.02  # env
    assert cfg.optim.grad_accum == 3  # file
    assert cfg.optim.epochs == 10  # preset
    cfg = C.resolve_config("msrvtt_qa", sets=["data.dataset=a"], flags={"data.dataset": "b"})
    assert cfg.data.dataset == "b"


def test_invalid_choices_and_ranges_are_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="score_agg_func"):
        C.resolve_config("msrvtt_qa", sets=["task.score_agg_func=median"])
    with pytest.raises(ConfigError, match="lse needs"):
        C.resolve_config("msrvtt_qa", sets=["task.loss_type=bce"])
    with pytest.raises(ConfigError, match="divisible"):
        C.resolve_config("msrvtt_qa", sets=["model.num_heads=5"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        C.resolve_config("msrvtt_qa", config_file=bad)
    with pytest.raises(ConfigError, match="cannot read"):
        C.resolve_config("msrvtt_qa", config_file=tmp_path / "missing.yaml")


def test_save_config_is_atomic_and_leaves_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "run" / "config.yaml"
    C.save_config(C.preset("demo"), path)
    assert [p.name for p in path.parent.iterdir()] == ["config.yaml"]
