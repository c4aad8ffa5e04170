"""The run detail screen: live curves, GPU panels, eval tables, log tail, config, actions."""

from __future__ import annotations

import json

import pytest
from textual.widgets import SelectionList

from clpbert.registry import open_registry
from clpbert.runs.ingest import Ingestor
from tui.screens.run_detail import RunDetailScreen
from tui.widgets.eval_table import EvalTable
from tui.widgets.gpu_panel import GpuPanel
from tui.widgets.log_view import LogView
from tui.widgets.loss_plot import LossPlot
from tui.widgets.tab_bar import TabBar

pytestmark = pytest.mark.anyio


async def open_detail(app, pilot, settle, run_id: str) -> RunDetailScreen:
    await settle(pilot)
    app.open_run(run_id)
    await settle(pilot)
    assert isinstance(app.screen, RunDetailScreen)
    return app.screen


async def test_live_run_refresh_appends_only_new_rows(make_app, settle, ids, tui_home):
    app = make_app()
    async with app.run_test(size=(140, 45)) as pilot:
        screen = await open_detail(app, pilot, settle, ids["running"])
        loss = screen.query_one("#loss-plot", LossPlot)
        assert loss.names == ["train/loss", "train/loss/itm", "train/loss/mlm"]
        assert screen.query_one("#lr-plot", LossPlot).names == ["train/lr"]
        assert screen.store.series["train/loss"].steps[-1] == 120
        first_id = screen.after_metric_id

        # the trainer writes more events; the run manager's ingest puts them in the registry
        run_dir = tui_home / "runs" / ids["running"]
        new = [{"event": "train", "time": 1.0, "step": s, "epoch": 2, "metrics": {"loss": 0.5, "lr": 1e-5}}
               for s in (130, 140)]
        new.append({"event": "eval", "time": 2.0, "step": 150, "split": "val",
                    "metrics": {"acc": 0.7, "acc/what": 0.75, "acc/who": 0.6}})
        with (run_dir / "events.jsonl").open("a") as f:
            f.writelines(json.dumps(e) + "\n" for e in new)
        with open_registry() as reg:
            Ingestor(reg, ids["running"], run_dir, metric="acc").poll()
        with (run_dir / "logs" / "train.log").open("a") as f:
            f.write("step 140 loss 0.5000\n")

        await pilot.press("ctrl+r")
        await settle(pilot)
        assert screen.after_metric_id > first_id
        assert screen.store.series["train/loss"].steps[-2:] == [130, 140]
        assert screen.store.series["train/loss"].steps.count(130) == 1  # nothing read twice
        evals = screen.query_one(EvalTable)
        assert [(r.step, r.split) for r in evals.rows_seen] == [(50, "val"), (100, "val"), (150, "val")]
        assert evals.row_count == 3
        log = screen.query_one(LogView)
        log.poll()
        await settle(pilot)
        assert log.lines[-1] == "step 140 loss 0.5000"
        assert "step 150" in str(screen.query_one("#run-summary").render())


async def test_tabs_keys_metric_choice_and_log_scale(make_app, settle, ids):
    app = make_app()
    async with app.run_test(size=(140, 45)) as pilot:
        screen = await open_detail(app, pilot, settle, ids["running"])
        tabs = screen.query_one(TabBar)
        for key, tab in (("g", "gpus"), ("e", "evals"), ("t", "log"), ("y", "config"), ("p", "curves")):
            await pilot.press(key)
            await settle(pilot)
            assert tabs.active == tab
        await pilot.press("l")
        assert screen.query_one("#loss-plot", LossPlot).log_scale
        select = screen.query_one("#metric-select", SelectionList)
        select.select("val/acc")
        select.deselect("train/loss/itm")
        await settle(pilot)
        names = set(screen.query_one("#loss-plot", LossPlot).names)
        assert names == {"train/loss", "train/loss/mlm", "val/acc"}
        await pilot.press("t", "f")
        assert not screen.query_one(LogView).follow
        await pilot.press("f")
        assert screen.query_one(LogView).follow
        await pilot.press("y")
        await settle(pilot)
        assert "max_steps: 200" in screen.query_one("#config-text").content.code  # rich Syntax


async def test_gpu_panels_show_live_readings_and_why_a_reading_is_missing(make_app, settle, ids):
    app = make_app()
    async with app.run_test(size=(140, 45)) as pilot:
        screen = await open_detail(app, pilot, settle, ids["running"])
        panels = list(screen.query(GpuPanel))
        assert [p.index for p in panels] == [0, 1]
        assert panels[0].reading.utilization_pct == 97.0  # the live (fake NVML) reading
        assert len(panels[0].temps) == 61  # 60 stored samples + the live one
        await pilot.press("escape")
        screen = await open_detail(app, pilot, settle, ids["failed"])  # not live: last stored sample
        panel = screen.query_one(GpuPanel)
        assert panel.reading is None
        assert "no GPU sample recorded" in str(panel.query_one(".gpu-summary").render())


async def test_retrieval_eval_table_orders_both_directions(make_app, settle, ids):
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await open_detail(app, pilot, settle, ids["finished"])
        table = screen.query_one(EvalTable)
        labels = [str(c.label) for c in table.columns.values()]
        assert labels == ["step", "split", "t2v R@1", "t2v R@5", "t2v R@10", "t2v MedR", "t2v MeanR",
                          "v2t R@1", "v2t R@5", "v2t R@10", "v2t MedR", "v2t MeanR"]
        best_medr = table.get_cell("200:val", "t2v/medr")
        assert best_medr.style == "bold"  # lower rank is better
        assert table.get_cell("100:val", "t2v/medr").style == ""


async def test_stop_from_detail_after_confirmation(make_app, settle, ids):
    app = make_app()
    async with app.run_test(size=(140, 45)) as pilot:
        screen = await open_detail(app, pilot, settle, ids["running"])
        await pilot.press("s", "y")
        await settle(pilot)
        assert screen.info.state == "killed"
        await pilot.press("r")  # no checkpoint.json in the fixture: the run manager refuses
        await settle(pilot)
        assert any("resume failed" in n.message for n in app._notifications)


async def test_resources_tab_names_the_loader_bound_run_only(make_app, settle, ids):
    app = make_app()
    async with app.run_test(size=(140, 45)) as pilot:
        screen = await open_detail(app, pilot, settle, ids["finished"])  # 40-48 % data wait
        verdict = screen.query_one("#verdict")
        assert verdict.display and str(verdict.render()).startswith("loader-bound: 40% of step time")
        assert "CPU 198%" in str(screen.query_one("#tree-line").render())
        await pilot.press("escape")
        screen = await open_detail(app, pilot, settle, ids["running"])  # 3-11 % data wait
        assert not screen.query_one("#verdict").display
        assert "data wait 0.084 s (7%)" in str(screen.query_one("#step-split").render())
