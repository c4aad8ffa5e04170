"""The application layer: one function per user-visible behaviour that both front-ends offer, so the
CLI (`cli/`, parsing and printing) and the TUI (`tui/data.py`, view records) cannot drift apart.

compare.py (runs side by side, config differences, runs by tag), export.py (metrics and evals as
CSV or JSON), datasets.py (verify a registered dataset), checkpoints.py (verify a checkpoint's
sha256), gpu_users.py (which run uses each GPU), run_logs.py (which log shows a run; reading and
following it), run_list.py (a page of the run list), run_detail.py (a run's detail, curves,
evaluations, GPU history), run_actions.py (which runs may be removed, tag edits, the TUI's launch),
job.py (a multi-node job's nodes), doctor.py (what this machine can do), predict_files.py
(`clpbert predict` on the user's files). Each returns plain data.
runs.py, registry.py, weights.py, predictions.py and gpus.py name engine functions lazily
(facade.py) for the CLI.
"""
