"""Benchmarks: seeded shop generation and timed runs of the real jobs, printing figures with data sizes."""
