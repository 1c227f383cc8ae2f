"""Benchmarks of issue 13: `python -m tests.perf [--json] [--size small|full]`."""
