"""Runs, as the front-ends use them: launch (one run, a sweep, the demo), follow, stop, kill,
resume, remove, reconcile, Slurm sync and logs, import and edit run dirs, and the facts `runs show`
prints (init description, loader verdict, the step arithmetic). One home per behaviour; this module
only names them (lazily, see facade.py)."""

from __future__ import annotations

from clpbert.app.facade import lazy_exports

_HOMES = {
    **dict.fromkeys(("DEMO_DATASET", "LaunchRequest", "ensure_demo_dataset", "launch_run", "follow_run",
                     "gpu_request", "request_world_size", "stop_run", "kill_run", "resume_run",
                     "remove_run"), "clpbert.runs.service"),
    "RunState": "clpbert.runs.lifecycle",
    "reconcile": "clpbert.runs.reconcile",
    "SlurmOptions": "clpbert.runs.launch", "Topology": "clpbert.runs.launch",
    "is_slurm_run": "clpbert.runs.launch",
    "slurm_log": "clpbert.runs.slurm_sync", "sync_slurm_run": "clpbert.runs.slurm_sync",
    "launch_sweep": "clpbert.runs.sweep", "parse_sweep": "clpbert.runs.sweep",
    "import_run_dirs": "clpbert.runs.run_dirs", "edit_run": "clpbert.runs.run_dirs",
    "loader_verdict": "clpbert.runs.loader_verdict",
    "launch_summary": "clpbert.train.steps", "adapt_global_batch": "clpbert.train.steps",
    "init_is_random": "clpbert.train.init_source:is_random",
    "describe_init": "clpbert.train.init_source:describe",
}
__all__ = sorted(_HOMES)
__getattr__, __dir__ = lazy_exports(_HOMES)
