"""Grid sweeps: one run per point, tagged together, all checked before any starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from clpbert.errors import UserError
from clpbert.registry import open_registry
from clpbert.runs.launch import SlurmOptions
from clpbert.runs.service import LaunchRequest
from clpbert.runs.sweep import launch_sweep, parse_sweep, point_name, points


def test_axes_points_and_names() -> None:
    axes = parse_sweep(["optim.lr=1e-4, 3e-4", "data.batch_size=8,16"], sets=["optim.max_steps=9"])
    assert axes == [("optim.lr", ["1e-4", "3e-4"]), ("data.batch_size", ["8", "16"])]
    assert points(axes) == [{"optim.lr": "1e-4", "data.batch_size": "8"},
                            {"optim.lr": "1e-4", "data.batch_size": "16"},
                            {"optim.lr": "3e-4", "data.batch_size": "8"},
                            {"optim.lr": "3e-4", "data.batch_size": "16"}]
    assert point_name("qa", points(axes)[1]) == "qa-lr=1e-4-batch_size=16"
    for bad, why in ((["optim.lr"], "write KEY=V1,V2"), (["optim.lr=1e-4,"], "write KEY=V1,V2"),
                     (["optim.lr=1,2", "optim.lr=3"], "given twice"), (["optim.lr=1,1"], "listed twice"),
                     (["optim.max_steps=1,2"], "both --set and --sweep"),
                     (["a.b=" + ",".join(map(str, range(17))), "c.d=" + ",".join(map(str, range(16)))],
                      "makes 272 runs")):
        with pytest.raises(UserError, match=why):
            parse_sweep(bad, sets=["optim.max_steps=9"])


def _slurm_request(rt, **kw) -> LaunchRequest:
    """Written as Slurm scripts, so nothing starts here: the fast way to see what a sweep creates."""
    return LaunchRequest(kind="finetune", task="demo", dataset="demo", sets=[*rt.TINY, "optim.max_steps=3"],
                         slurm=SlurmOptions(nnodes=1), **kw)


def test_a_sweep_creates_one_tagged_run_per_point(runs_home: Path, rt) -> None:
    with open_registry() as reg:
        axes = parse_sweep(["optim.lr=1e-4,3e-4", "data.batch_size=2,4"])
        tag, runs = launch_sweep(reg, _slurm_request(rt, name="grid", tags=["mine"]), axes)
        assert tag.startswith("sweep-") and len(runs) == 4
        assert [r.name for r in runs] == ["grid-lr=1e-4-batch_size=2", "grid-lr=1e-4-batch_size=4",
                                          "grid-lr=3e-4-batch_size=2", "grid-lr=3e-4-batch_size=4"]
        got = [(reg.get_run(r.id).config["optim"]["lr"], reg.get_run(r.id).config["data"]["batch_size"])
               for r in runs]
        assert got == [(1e-4, 2), (1e-4, 4), (3e-4, 2), (3e-4, 4)]
        assert all(r.tags == ["mine", tag] for r in runs)
        assert {r.id for r in reg.list_runs(tag=tag)} == {r.id for r in runs}


def test_a_bad_value_in_any_point_starts_nothing(runs_home: Path, rt) -> None:
    with open_registry() as reg:
        before = reg.count_runs()
        with pytest.raises(UserError, match=r"optim\.lr"):
            launch_sweep(reg, _slurm_request(rt), parse_sweep(["optim.lr=1e-4,fast"]))
        assert reg.count_runs() == before


@pytest.mark.slow
def test_a_cpu_sweep_runs_every_point_to_the_end(runs_home: Path, rt) -> None:
    from cli.runs_manage import compare_data

    with open_registry() as reg:
        sets = [*rt.TINY, "optim.max_steps=2"]
        req = LaunchRequest(kind="finetune", task="demo", dataset="demo", sets=sets)
        tag, runs = launch_sweep(reg, req, parse_sweep(["optim.lr=1e-3,1e-4"]))
        done = rt.wait_until(lambda: all(reg.get_run(r.id).state in ("finished", "failed") for r in runs)
                             and [reg.get_run(r.id) for r in runs], 240, "both sweep runs to end")
        assert [r.state for r in done] == ["finished", "finished"], [r.reason for r in done]
        data = compare_data(reg, [r.id for r in reg.list_runs(tag=tag, order="created")])
        assert data["config"]["optim.lr"] == [1e-3, 1e-4]
