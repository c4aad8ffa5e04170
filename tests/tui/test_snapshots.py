"""SVG snapshots of the main screens: fixed registry, fixed clock, fake NVML with fixed readings.

Regenerate after an intended change with `pytest tests/tui/test_snapshots.py --snapshot-update`
and look at the SVGs (tests/tui/__snapshots__/) before committing them.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def snap(make_app, settle, snap_compare):
    def run(*keys: str, run_id: str | None = None, size: tuple[int, int] = (140, 42)) -> bool:
        app = make_app()

        async def before(pilot) -> None:
            await settle(pilot)
            if run_id:
                app.open_run(run_id)
                await settle(pilot)
            for key in keys:
                await pilot.press(key)
                await settle(pilot)

        return snap_compare(app, terminal_size=size, run_before=before)

    return run


def test_runs_screen(snap):
    assert snap("down", "space")


def test_runs_screen_groups_the_node_runs_of_a_job(snap, two_node_job):
    """The Job column (`<job id> n<rank>`) and node 0 listed above node 1, created later."""
    assert snap(size=(140, 14))


def test_run_detail_curves_of_a_live_run(snap, ids):
    assert snap(run_id=ids["running"])


def test_run_detail_gpu_panels(snap, ids):
    assert snap("g", run_id=ids["running"])


def test_run_detail_retrieval_eval_table(snap, ids):
    assert snap("e", run_id=ids["finished"], size=(150, 30))


def test_run_detail_resources_of_a_loader_bound_cpu_run(snap, ids):
    """The resources tab: step time split, data-wait curve, process tree and the loader-bound verdict."""
    assert snap("g", run_id=ids["finished"])


def test_gpus_screen(snap):
    assert snap("4", size=(120, 50))


def test_datasets_screen(snap):
    assert snap("2", size=(120, 24))


def test_checkpoints_screen(snap):
    assert snap("3", size=(120, 24))


def test_new_run_dialog(snap):
    assert snap("n", size=(120, 56))  # the whole form fits: no scroll position to race with
