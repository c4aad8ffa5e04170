"""Datasets and checkpoints screens: details, lineage, verify; the GPUs screen, with and without a driver."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable

from tui.widgets.gpu_panel import GpuPanel

pytestmark = pytest.mark.anyio


async def test_datasets_details_and_verify(make_app, settle, notifications, tui_home):
    app = make_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("2")
        await settle(pilot)
        details = str(app.screen.query_one("#listing-details").render())
        assert "train" in details and "8 examples" in details and "4 examples" in details
        assert "$CLPBERT_HOME/datasets/demo/txt_db" in details
        await pilot.press("v")
        await settle(pilot)
        assert any("dataset demo: OK" in n for n in notifications(app))

        # one record whose video is not in the vis_db: verify says so
        txt = tui_home / "datasets" / "demo" / "txt_db" / "val.jsonl"
        txt.write_text(txt.read_text().replace('"video_id": "', '"video_id": "gone', 1))
        await pilot.press("v")
        await settle(pilot)
        assert any("missing from vis_db" in n for n in notifications(app))


async def test_checkpoints_lineage_and_sha256_verify(make_app, settle, notifications, tui_home, ids):
    app = make_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("3")
        await settle(pilot)
        table = app.screen.query_one(DataTable)
        rows = [table.get_row_at(i) for i in range(table.row_count)]
        assert [r[0] for r in rows] == [f"{ids['running']}-step100", "clipbert-init"]
        assert rows[0][2] == f"run {ids['running']} step 100"  # lineage: which run and step
        await pilot.press("down", "v")
        await settle(pilot)
        assert any("checkpoint clipbert-init: OK" in n for n in notifications(app))
        (tui_home / "pretrained" / "clipbert_init.pt").write_bytes(b"tampered")
        await pilot.press("v")
        await settle(pilot)
        assert any("sha256 mismatch" in n for n in notifications(app))


async def test_gpus_screen_lists_every_gpu_with_its_runs(make_app, settle):
    app = make_app()
    async with app.run_test(size=(140, 60)) as pilot:
        await pilot.press("4")
        await settle(pilot)
        panels = {p.index: p for p in app.screen.query(GpuPanel)}
        assert sorted(panels) == [0, 1, 2, 3]
        title0 = str(panels[0].query_one(".gpu-title").render())
        assert "demo-qa-live" in title0
        assert "free" in str(panels[2].query_one(".gpu-title").render())
        na = str(panels[3].query_one(".gpu-na").render())
        assert "power: not supported by this GPU/driver" in na
        assert "N/A" in str(panels[3].query_one(".gpu-summary").render())


async def test_gpus_screen_without_a_driver_says_why(make_app, settle, monkeypatch):
    monkeypatch.setenv("CLPBERT_FAKE_NVML", "no-driver")
    app = make_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("4")
        await settle(pilot)
        header = str(app.screen.query_one("#gpus-header").render())
        assert "No GPUs to show" in header and "libnvidia-ml.so not found" in header
        assert not list(app.screen.query(GpuPanel))
