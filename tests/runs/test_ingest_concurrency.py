"""8 runs writing metrics at 10 Hz through the real ingest path while a reader polls the registry."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from clpbert.registry import open_registry

N_RUNS, N_STEPS = 8, 50
WRITER = Path(__file__).with_name("ingest_writer.py")


@pytest.mark.slow
def test_eight_writers_and_a_reader_lose_nothing(clpbert_home: Path, tmp_path: Path) -> None:
    with open_registry() as reg:
        runs = [reg.create_run("finetune", "demo", name=f"w{i}", run_dir=tmp_path / f"w{i}")
                for i in range(N_RUNS)]
        procs = [subprocess.Popen([sys.executable, str(WRITER), r.id, str(tmp_path / r.name), str(N_STEPS)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in runs]
        polls = 0
        seen: dict[str, int] = {r.id: 0 for r in runs}
        last_id: dict[str, int] = {r.id: 0 for r in runs}
        while any(p.poll() is None for p in procs):  # the TUI's polling pattern, concurrently
            reg.list_runs()
            for r in runs:
                new = reg.metrics_since(r.id, last_id[r.id])
                if new:
                    last_id[r.id] = new[-1].id
                    seen[r.id] += len(new)
                reg.latest_eval(r.id)
            polls += 1
            time.sleep(0.05)
        outputs = [p.communicate(timeout=60) for p in procs]
        for p, (out, err) in zip(procs, outputs, strict=True):
            assert p.returncode == 0, err
            assert "locked" not in err
            assert int(out.strip()) == 1 + N_STEPS + N_STEPS // 10 + 1  # start, train, eval, finish
        per_run = N_STEPS * 4 + (N_STEPS // 10) * 2
        for r in runs:
            seen[r.id] += len(reg.metrics_since(r.id, last_id[r.id]))
            assert seen[r.id] == per_run  # the reader saw every point exactly once
            assert len(reg.list_evals(r.id)) == N_STEPS // 10
            got = reg.get_run(r.id)
            assert got.step == N_STEPS and got.best_metric_value == 1.0
        assert polls > 10
