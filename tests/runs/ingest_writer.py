"""A stand-in for one run in tests/runs/test_ingest_concurrency.py: writes events at 10 Hz with the
trainer's EventWriter and ingests them with the supervisor's Ingestor, like a real run does."""

from __future__ import annotations

import sys
import time

from clpbert.registry import open_registry
from clpbert.runs.ingest import Ingestor
from clpbert.train.events import EventWriter


def main(run_id: str, run_dir: str, n: int) -> None:
    with open_registry() as reg:
        writer = EventWriter(run_dir)
        ingestor = Ingestor(reg, run_id, run_dir, metric="acc")
        writer.start(0, 1, n, "demo", 1)
        t0 = time.monotonic()
        for step in range(1, n + 1):
            writer.train(step, 0, {"loss": 1.0 / step, "lr": 1e-3, "grad_norm": 0.5, "videos_per_s": 10.0})
            if step % 10 == 0:
                writer.eval(step, "val", {"acc": step / n, "acc/color": 0.5})
            if step % 2 == 0:  # the supervisor polls at 5 Hz
                ingestor.poll()
            time.sleep(max(0.0, t0 + step * 0.1 - time.monotonic()))
        writer.finish(n, "finished")
        while ingestor.poll():
            pass
        print(ingestor.summary.events)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
