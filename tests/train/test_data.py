"""DataLoader settings the trainer derives from the config and the machine."""

from __future__ import annotations

from clpbert.config import DataConfig
from clpbert.train.data import MAX_AUTO_WORKERS, resolve_num_workers


def test_default_workers_fit_the_cores_of_each_process():
    assert DataConfig().num_workers == -1  # the default asks for "what this machine has"
    assert resolve_num_workers(-1, processes_per_node=2, cores=2) == 0  # was 4 each: 8 workers on 2 cores
    assert resolve_num_workers(-1, processes_per_node=1, cores=2) == 1
    assert resolve_num_workers(-1, processes_per_node=2, cores=16) == MAX_AUTO_WORKERS
    assert resolve_num_workers(-1, processes_per_node=8, cores=16) == 1


def test_an_explicit_worker_count_is_kept():
    assert resolve_num_workers(0, processes_per_node=1, cores=64) == 0
    assert resolve_num_workers(6, processes_per_node=4, cores=2) == 6


def test_local_world_size_comes_from_torchrun(monkeypatch):
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    assert resolve_num_workers(-1, cores=8) == 1
