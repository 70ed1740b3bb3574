"""The one contract every incremental source keeps: pages of records, each with an opaque cursor.

A source is handed the cursor saved after the last stored page (None the first time) and yields
pages in order. Each page carries the cursor to save once that page is stored, never one ahead of
it, so a reader that stores a page and its cursor together can be killed at any point and resume.
The cursor means something only to the source that made it, and the source applies its own
look-back to it: re-reading a short window before the cursor catches changes committed out of
order. The one reader of this contract is jobs/pull.py.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Final, Protocol, TypeVar

from segmail.connector import fields
from segmail.connector.fields import FieldError
from segmail.connector.http import ConfigurationError, HttpStats

R_co = TypeVar("R_co", covariant=True)

# How far before its cursor an incremental read starts again, unless configured (`lookback_minutes`).
DEFAULT_LOOKBACK: Final = timedelta(minutes=10)


class Page(Protocol[R_co]):
    """One page: its records, the records skipped (reasons, never personal data), the cursor to save."""

    @property
    def records(self) -> Sequence[R_co]: ...

    @property
    def problems(self) -> Sequence[str]: ...

    @property
    def cursor(self) -> str | None: ...


class PageSource(Protocol[R_co]):
    """Pages from `cursor` on, in order; `close` releases the connection pool the source owns."""

    def pages(self, cursor: str | None) -> Iterator[Page[R_co]]: ...

    @property
    def stats(self) -> HttpStats:
        """What its HTTP client counted (requests, retries), for the run log and /metrics."""
        ...

    def close(self) -> None: ...


def cursor_time(cursor: str, source: str) -> datetime:
    """A time cursor (ISO 8601 with an offset) as aware UTC; a corrupt one names its source."""
    try:
        return fields.timestamp(cursor, "cursor", naive_is_utc=False)
    except FieldError as exc:
        raise ConfigurationError(f"{source} cursor: {exc}") from None


def lookback_start(cursor: str | None, lookback: timedelta, source: str) -> datetime | None:
    """Where an incremental read starts: the cursor's time less the look-back; None reads everything."""
    return None if cursor is None else cursor_time(cursor, source) - lookback
