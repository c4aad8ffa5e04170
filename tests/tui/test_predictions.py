"""The predictions screen (enter on an Evals row) and the flip view (`f` on the compare screen).

The fixture registry's QA and retrieval runs get saved predictions written by the trainer's store
and indexed as the ingestor indexes them; a second QA run (the failed one) gets an evaluation of
the same examples, so the two can be compared. Pilot drives the keys; SVG snapshots fix the look.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from clpbert.predictions import schema, store

NOW = 1_750_000_000.0
RUNNING, FINISHED, FAILED = "a1b2c3d4", "b2c3d4e5", "c3d4e5f6"  # tests/tui/conftest.py's runs
WORDS = ("dog", "cat", "car", "man", "girl")
N_QA, N_RET = 40, 12


def qa_right(run: str, step: int, i: int) -> bool:
    return (i * 7 + step) % 3 != 0 if run == RUNNING else (i * 5) % 4 != 0


def qa_rows(run: str, step: int) -> list[dict]:
    rows = []
    for i in range(N_QA):
        answer = WORDS[i % 5]
        right = qa_right(run, step, i)
        pred = answer if right else WORDS[(i + 1) % 5]
        others = [w for w in WORDS if w != pred]
        p = 0.5 + (i % 5) / 10
        rows.append(schema.record(example_id=f"q{i:03d}", video_key=f"video{i % 9}",
                                  type=("what", "who")[i % 2], text=f"what is in clip {i}?", answer=answer,
                                  pred=pred, correct=right,
                                  score=p, rank=1 if right else 2 + i % 3, candidates=[pred, *others],
                                  candidate_scores=[p, (1 - p) / 2, (1 - p) / 4, (1 - p) / 8, (1 - p) / 8]))
    return rows


def ret_rows() -> list[dict]:
    rows = []
    for d, n in (("t2v", N_RET), ("v2t", N_RET)):
        for i in range(n):
            rank = 1 + (i * 3) % 7 if d == "t2v" else 1 + i % 4
            top = [f"video{(i + k) % n}" if d == "t2v" else f"a caption {k}" for k in range(5)]
            rows.append(schema.record(example_id=f"{d}{i}", video_key=f"video{i}", type=d,
                                      text=f"a caption {i}", pred=top[0],
                                      answer=top[rank - 1] if rank <= 5 else f"video{i}",
                                      correct=rank == 1, score=0.9 - rank / 20, rank=rank, candidates=top,
                                      candidate_scores=[0.9 - k / 10 for k in range(5)]))
    return rows


def _save(reg, run_id: str, step: int, kind: str, rows: list[dict], eval_id: int) -> None:
    rel = store.write_predictions(reg.get_run(run_id).run_dir, step, "val", kind, rows, task="demo")
    reg.add_eval_predictions(eval_id, str(rel), kind=kind, rows=len(rows), now=NOW)


@pytest.fixture
def pred_home(tui_home: Path) -> Path:
    from clpbert.registry import open_registry

    with open_registry() as reg:
        for ev in reg.list_evals(RUNNING):
            _save(reg, RUNNING, ev.step, schema.QA, qa_rows(RUNNING, ev.step), ev.id)
        for ev in reg.list_evals(FINISHED):
            _save(reg, FINISHED, ev.step, schema.RETRIEVAL, ret_rows(), ev.id)
        ev = reg.add_eval(FAILED, 30, "val", {"acc": 0.75, "acc/what": 0.75, "acc/who": 0.75},
                          time=NOW - 6950)
        _save(reg, FAILED, 30, schema.QA, qa_rows(FAILED, 30), ev.id)
    return tui_home


@pytest.fixture
def app(make_app, pred_home):
    return make_app()


async def _open_predictions(app, pilot, settle, run_id: str):
    from tui.screens.predictions import PredictionsScreen

    await settle(pilot)
    app.open_run(run_id)
    await settle(pilot)
    await pilot.press("e")
    await settle(pilot)
    app.screen.query_one("#eval-table").focus()
    await pilot.press("enter")
    await settle(pilot)
    assert isinstance(app.screen, PredictionsScreen)
    return app.screen


@pytest.mark.anyio
async def test_enter_on_an_eval_row_opens_its_predictions_and_filters_them(app, settle):
    from tui.widgets.predictions_table import PredictionsTable

    async with app.run_test(size=(150, 45)) as pilot:
        screen = await _open_predictions(app, pilot, settle, RUNNING)
        assert screen.view.step == 50 and screen.view.kind == "qa"  # the row under the cursor
        table = screen.query_one(PredictionsTable)
        assert table.total == N_QA and table.cursor["example_id"] == "q000"
        await pilot.press("w")
        wrong = sum(not qa_right(RUNNING, 50, i) for i in range(N_QA))
        assert table.total == wrong and all(not table.row(i)["correct"] for i in range(wrong))
        await pilot.press("t")  # the first type: what
        assert table.total == sum(not qa_right(RUNNING, 50, i) for i in range(0, N_QA, 2))
        await pilot.press("x", "slash")
        await pilot.press(*"clip 17?", "enter")
        assert table.total == 1 and table.cursor["example_id"] == "q017"
        side = str(screen.query_one("#pred-example").render())
        assert "what is in clip 17?" in side and "video video8" in side and "top answers" in side
        await pilot.press("x", "down", "down", "a")  # q002's ground truth: car
        rows = qa_rows(RUNNING, 50)
        assert rows[2]["answer"] == "car"
        assert table.total == sum(r["answer"] == "car" or r["pred"] == "car" for r in rows)
        await pilot.press("escape")
        assert type(app.screen).__name__ == "RunDetailScreen"


@pytest.mark.anyio
async def test_retrieval_predictions_show_the_ranked_list_and_rank_histogram(app, settle):
    async with app.run_test(size=(150, 45)) as pilot:
        screen = await _open_predictions(app, pilot, settle, FINISHED)
        chart = str(screen.query_one("#pred-chart").render())
        assert "t2v: rank of the ground truth" in chart and "v2t: rank of the ground truth" in chart
        assert "ranked videos" in str(screen.query_one("#pred-example").render())


@pytest.mark.anyio
async def test_flip_view_from_the_compare_screen_counts_per_type(app, settle):
    from tui.screens.flips import FlipsScreen

    async with app.run_test(size=(150, 45)) as pilot:
        await settle(pilot)
        app.compare_runs([RUNNING, FAILED])
        await settle(pilot)
        await pilot.press("f")
        await settle(pilot)
        assert isinstance(app.screen, FlipsScreen)
        counts = app.screen.view.flips.counts()
        # A = the running run's latest evaluation (step 100), B = the failed run's (step 30)
        expect: dict[str, dict[str, int]] = {}
        for i in range(N_QA):
            a, b = qa_right(RUNNING, 100, i), qa_right(FAILED, 30, i)
            if a != b:
                t = expect.setdefault(("what", "who")[i % 2], {"fixed": 0, "broken": 0})
                t["fixed" if b else "broken"] += 1
        assert counts["common"] == N_QA and counts["per_type"] == expect
        assert app.screen.query_one("#flips-table").row_count == counts["fixed"] + counts["broken"]


@pytest.fixture
def snap(make_app, pred_home, settle, snap_compare):
    def run(setup, size: tuple[int, int] = (150, 42)) -> bool:
        app = make_app()

        async def before(pilot) -> None:
            await settle(pilot)
            await setup(app, pilot)
            await settle(pilot)

        return snap_compare(app, terminal_size=size, run_before=before)

    return run


def test_predictions_screen_snapshot(snap, settle):
    async def setup(app, pilot):
        await _open_predictions(app, pilot, settle, RUNNING)
        await pilot.press("down", "down")

    assert snap(setup)


def test_flip_view_snapshot(snap, settle):
    async def setup(app, pilot):
        app.compare_runs([RUNNING, FAILED])
        await settle(pilot)
        await pilot.press("f")
        await settle(pilot)
        await pilot.press("down")

    assert snap(setup)
