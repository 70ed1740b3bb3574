"""The service's start-up refusal, apart from jobs/start.py so that classifying a failure (jobs/errors.py,
loaded by every command) does not load the service, the sender and the scheduler with it."""

from __future__ import annotations


class StartError(Exception):
    """The service cannot start; `exit_code` 2 for configuration, 1 for an unreachable system."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code
