"""runs_page: `clpbert runs list` and the TUI's runs table filter and count the same way (they used
to build the filters each on its own)."""

from __future__ import annotations

import json


def test_cli_and_tui_list_the_same_runs_for_the_same_filters(clpbert_home, inproc):
    from clpbert.app.run_list import runs_page
    from clpbert.registry import open_registry
    from tui.data import TuiData
    from tui.widgets.runs_table import RunQuery

    with open_registry() as reg:
        for i in range(5):
            reg.create_run("finetune", "demo" if i % 2 else "msrvtt_qa", name=f"r{i}", state="finished",
                           tags=["keep"] if i < 4 else [])
        reg.create_run("finetune", "demo", name="f", state="failed", tags=["keep"])
        page = runs_page(reg, states=["finished"], tag="keep", limit=2)
        assert page.total == 4 and [r.name for r in page.runs] == ["r3", "r2"]
        assert runs_page(reg, states=["finished"], tag="keep").total == 4

    listed = inproc("runs", "list", "--state", "finished", "--tag", "keep", "--limit", "2", "--json")
    assert [r["name"] for r in json.loads(listed.stdout)] == ["r3", "r2"]
    assert "showing 2 of 4 runs" in inproc("runs", "list", "--state", "finished", "--tag", "keep",
                                           "--limit", "2").stderr
    data = TuiData.open()
    try:
        total, rows = data.runs_page(RunQuery(states=("finished",), tag="keep"), 0, 2)
    finally:
        data.close()
    assert total == 4 and [r.name for r in rows] == ["r3", "r2"]
