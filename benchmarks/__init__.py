"""Benchmarks: each `python -m benchmarks.bench_<topic>` prints its baseline, candidate and ratio."""
