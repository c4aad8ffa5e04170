"""trainer_log: `clpbert runs logs` and the TUI's log tab show the same file for a run, a Slurm
job's output included (before, the TUI tailed RUN_DIR/logs/train.log, which a Slurm run never has)."""

from __future__ import annotations

import pytest


def _cli_logs(capsys, *args: str) -> str:
    from cli.app import main

    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        main(["runs", "logs", *args])
    assert done.value.code in (0, None)
    return capsys.readouterr().out


@pytest.mark.parametrize("host", ["slurm:4242", "local"])
def test_cli_and_tui_show_the_same_log(clpbert_home, capsys, host):
    from clpbert.registry import open_registry
    from clpbert.runs.run_dir import RunDir
    from tui.data import TuiData, run_info

    with open_registry() as reg:
        run = reg.create_run("finetune", "demo", name="r", state="finished",
                             host=None if host == "local" else host)
    rd = RunDir(run.run_dir).create()
    rd.logs.mkdir(parents=True, exist_ok=True)
    expected = rd.slurm_log("4242") if host.startswith("slurm") else rd.train_log
    expected.write_text("step 1 loss 0.5\n")

    assert _cli_logs(capsys, run.id) == "step 1 loss 0.5\n"
    data = TuiData.open()
    try:
        assert run_info(data.registry.get_run(run.id)).train_log == expected
    finally:
        data.close()


def test_following_a_log_prints_lines_as_they_come_and_stops_when_the_run_ends(clpbert_home):
    """RunLog (the loop `runs logs -f` ran inline before): lines written while the run is live come
    through, and following ends once the run is final, after the lines written last."""
    import threading
    import time

    from clpbert.app.run_logs import RunLog
    from clpbert.registry import open_registry
    from clpbert.runs.lifecycle import RunState
    from clpbert.runs.run_dir import RunDir

    with open_registry() as reg:
        run = reg.create_run("finetune", "demo", name="live", state=RunState.RUNNING)
        rd = RunDir(run.run_dir).create()
        rd.logs.mkdir(parents=True, exist_ok=True)
        rd.train_log.write_text("step 1\n")

        def trainer() -> None:
            for step in (2, 3):
                time.sleep(0.1)
                with rd.train_log.open("a") as f:
                    f.write(f"step {step}\n")
            reg.update_run(run.id, state=RunState.FINISHED)

        writer = threading.Thread(target=trainer)
        writer.start()
        log = RunLog(reg, run, poll_s=0.02)
        text = b"".join(log.chunks(follow=True)).decode()
        writer.join()
        assert text == "step 1\nstep 2\nstep 3\n"
        assert log.missing_note() is None


def test_tail_starts_with_the_last_lines_and_a_missing_log_is_named(clpbert_home):
    from clpbert.app.run_logs import RunLog
    from clpbert.registry import open_registry
    from clpbert.runs.run_dir import RunDir

    with open_registry() as reg:
        run = reg.create_run("finetune", "demo", name="done", state="finished")
        rd = RunDir(run.run_dir).create()
        rd.logs.mkdir(parents=True, exist_ok=True)
        rd.train_log.write_text("a\nb\nc\n")
        assert b"".join(RunLog(reg, run, tail=2).chunks()) == b"b\nc\n"
        rd.train_log.unlink()
        log = RunLog(reg, run)
        assert b"".join(log.chunks(follow=True)) == b""
        assert log.missing_note() == f"run {run.id} has no train.log yet (finished)"
