"""The training engine: `python -m clpbert.train --config RUN_DIR/config.yaml` (see __main__.py).

  loop.py         Trainer: data, model, optimiser, steps, evaluation, checkpoints, stop handling
  tasks/          one module per task family; each a `Task` its TaskSpec names, demo.py = worked example
  optim.py        AdamW parameter groups, warm-up + linear decay, total/valid steps
  checkpoint.py   atomic step files, latest.json, best.pt, keep-last-N, RNG state
  events.py       RUN_DIR/events.jsonl writer (the run's durable record)
  distributed.py  torchrun process group (NCCL/gloo) and the few collectives used
  metrics.py      QA accuracy (per type), retrieval R@K / median / mean rank (pure functions)
  data.py         data paths, deterministic resumable batch order, per-item seeding
"""
