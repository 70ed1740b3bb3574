"""What every command shares: the output consoles, the config and store of one run, `--as-of`, and the
one place the CLI builds API clients.

The clients are built here, and only here, so that moving their construction (secrets from the
environment, settings from the config) into a wiring module is one edit.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from rich.console import Console

from jobs.config import AppConfig
from jobs.errors import UsageError
from store.db import Store, open_store

if TYPE_CHECKING:  # imported when a command needs them: `segmail --help` stays quick
    from connector.mailchimp import MailchimpApi
    from jobs.shop_pull import OrderSource

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


def mailchimp_api(config: AppConfig) -> MailchimpApi:
    """The Mailchimp client of `[mailchimp]` and MAILCHIMP_API_KEY; a missing setting is a usage error."""
    from jobs import sync

    try:
        return sync.open_api(config)
    except sync.SyncConfigError as exc:
        raise UsageError(str(exc)) from None


def shop_source(config: AppConfig) -> OrderSource:
    """The order source `[shop] kind` names, with its secrets; a missing setting is a usage error."""
    from jobs import shop_pull

    try:
        return shop_pull.open_source(config)
    except shop_pull.ShopConfigError as exc:
        raise UsageError(str(exc)) from None
