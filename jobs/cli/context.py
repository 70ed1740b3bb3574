"""What every command shares: the output consoles, the config and store of one run, and `--as-of`.

API clients (secrets from the environment, settings from the config) are built by jobs/wiring.py,
the one place the CLI, the service and the benchmarks get them from.
"""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Console

from segmail.jobs.config import AppConfig
from segmail.jobs.errors import UsageError
from segmail.store.db import Store, open_store

out = Console()
err = Console(stderr=True)

AS_OF_HELP = "ISO 8601 with offset, e.g. 2026-11-26T09:00:00Z (default: now)"


def parse_as_of(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--as-of {text!r} is not an ISO 8601 date-time") from None
    if value.tzinfo is None:
        raise UsageError(f"--as-of {text!r} has no UTC offset; add Z or +HH:MM")
    return value.astimezone(UTC)


class Context:
    """What a command needs: the config, and the store opened on first use and always closed."""

    def __init__(self, config: AppConfig) -> None:
        self.config = config
        self._store: Store | None = None

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = open_store(self.config.store_url(), cache_mib=self.config.store.cache_mib)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.dispose()
