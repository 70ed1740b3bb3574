"""Orchestration: the CLI, import and compute jobs, the demo; no business logic of its own."""
