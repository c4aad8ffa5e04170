"""A run with no usable data cannot end `finished` (issue 17, defect 3): a step without one usable
example fails the run with the reason, the launch refuses a dataset whose vis_db covers too few
records, and the fraction of skipped training videos is a metric `runs show` prints."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from clpbert.train.events import read_events


def _vis_db_with(src: Path, dest: Path, keep: float) -> Path:
    """A copy of src's vis_db holding the first `keep` fraction of its videos (0: an empty LMDB)."""
    from clpbert.data.vis_db import VisDB, VisDBWriter

    vis = VisDB(src / "vis_db")
    keys = sorted(vis.keys())
    with VisDBWriter(dest) as out:
        for key in keys[: int(len(keys) * keep)]:
            out.put_value(key, vis.get_bytes(key))
    vis.close()
    return dest


@pytest.mark.slow
def test_a_step_without_any_usable_example_fails_the_run(tiny_demo: Path, tmp_path: Path, make_config,
                                                         trainer):
    empty = _vis_db_with(tiny_demo, tmp_path / "empty_vis", 0.0)
    cfg = make_config(tmp_path / "run", tiny_demo, "optim.max_steps=3", f"data.vis_db={empty}")
    proc = trainer(cfg)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and "clpbert datasets verify" in proc.stderr
    finish = read_events(cfg.parent)[-1]
    assert finish["event"] == "finish" and finish["status"] == "failed"
    assert "no usable training example" in finish["reason"] and finish["step"] == 0


@pytest.mark.slow
def test_skipped_fraction_is_a_training_metric(tiny_demo: Path, tmp_path: Path, make_config, trainer):
    half = _vis_db_with(tiny_demo, tmp_path / "half_vis", 0.5)
    cfg = make_config(tmp_path / "run", tiny_demo, "optim.max_steps=3", "eval.valid_steps=100",
                      f"data.vis_db={half}")
    proc = trainer(cfg)
    assert proc.returncode == 0, proc.stderr[-2000:]
    train = [e["metrics"] for e in read_events(cfg.parent) if e["event"] == "train"]
    assert train and all(0 < m["skipped_frac"] < 1 for m in train)
    assert train[-1]["skipped_videos"] > 0


def _run_cli(*args: str) -> tuple[int, str]:
    import contextlib
    import io

    from cli.app import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()) as out:
        try:
            main(list(args))
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
    return code, out.getvalue() + err.getvalue()


def _data_sets(dataset: Path, vis: Path) -> list[str]:
    return ["--set", "data.dataset=", "--set", f"data.txt_db={dataset / 'txt_db'}", "--set",
            f"data.vis_db={vis}", "--set", f"data.tokenizer={dataset / 'tokenizer'}"]


def test_launch_refuses_a_dataset_whose_videos_cover_too_few_records(clpbert_home: Path, tiny_demo: Path,
                                                                     tmp_path: Path):
    sparse = _vis_db_with(tiny_demo, tmp_path / "sparse_vis", 0.2)
    code, out = _run_cli("run", "finetune", "--task", "demo", *_data_sets(tiny_demo, sparse))
    assert code == 2 and "clpbert datasets verify" in out and "--min-video-coverage 0" in out, out
    assert len(out.strip().splitlines()) == 1
    assert not (clpbert_home / "runs").exists() or not any((clpbert_home / "runs").iterdir())


def test_the_coverage_threshold_can_be_overridden(clpbert_home: Path, tiny_demo: Path, tmp_path: Path):
    from clpbert.registry import open_registry
    from clpbert.runs.data_coverage import measure
    from clpbert.runs.service import LaunchRequest, launch_run

    sparse = _vis_db_with(tiny_demo, tmp_path / "sparse_vis", 0.2)
    sets = [s for s in _data_sets(tiny_demo, sparse) if s != "--set"]
    with open_registry() as reg:
        run = launch_run(reg, LaunchRequest(kind="finetune", task="demo", sets=sets, min_video_coverage=0),
                         start=False)
        assert run.state.value == "queued"
        from clpbert.config import from_dict

        found = {c.split: c for c in measure(reg, from_dict(run.config))}
        assert 0 < found["train"].covered < found["train"].records * 0.5
        full = launch_run(reg, LaunchRequest(kind="finetune", task="demo",
                                             sets=[s for s in _data_sets(tiny_demo, tiny_demo / "vis_db")
                                                   if s != "--set"]), start=False)
        assert full.state.value == "queued"  # a complete dataset passes the default check


def test_runs_show_prints_the_skipped_fraction(clpbert_home: Path):
    from clpbert.registry import open_registry

    with open_registry() as reg:
        reg.create_run("finetune", "demo", name="r", run_id="abcd0001")
        now = time.time()
        reg.add_metrics("abcd0001", [(5, "train/skipped_frac", 0.25, now),
                                     (5, "train/skipped_videos", 8.0, now)])
    code, out = _run_cli("runs", "show", "abcd0001")
    assert code == 0 and "25.0% of training videos (8)" in out, out
