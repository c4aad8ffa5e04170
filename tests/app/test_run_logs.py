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
