"""Benchmarks behind `make bench`; each part has a module with a `run_*_bench() -> dict`."""
