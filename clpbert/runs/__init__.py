"""The run manager: launching, supervising, queueing on GPUs and ingesting a run's events.

`launch.py` builds the torchrun command, `supervisor.py` is the one detached process per run,
`scheduler.py` the GPU reservation ledger, `ingest.py` turns events.jsonl into registry rows,
`reconcile.py` marks runs whose supervisor vanished, `service.py` is what the CLI/TUI call.
`lifecycle.py` holds the run states and their transition table, `run_dir.py` every path in a run dir.
"""
