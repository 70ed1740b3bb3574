"""A report's period: UTC dates, `since` inclusive and `until` exclusive.

A campaign belongs to the period of its send time (its attributed orders count whenever they fall in
its windows); an order to the period of its `created_at`; a segment's state at either end is the one
left by the last compute at or before that instant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

DEFAULT_DAYS = 30


@dataclass(frozen=True, slots=True)
class Period:
    since: datetime  # aware UTC midnight, inclusive
    until: datetime  # aware UTC midnight, exclusive

    def __post_init__(self) -> None:
        for name in ("since", "until"):
            value = getattr(self, name)
            if value.tzinfo is None or value.utcoffset() != timedelta(0):
                raise ValueError(f"{name} must be an aware UTC datetime, got {value!r}")
        if self.until <= self.since:
            raise ValueError(f"until ({self.until.date()}) must be after since ({self.since.date()})")

    def contains(self, at: datetime) -> bool:
        return self.since <= at < self.until


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def day(text: str | None, name: str) -> date | None:
    """A `since`/`until` as typed (YYYY-MM-DD); None for none. The error names the field as the caller
    calls it (`--since` on the command line, `since` in the workspace's form)."""
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name} {text!r} is not a date such as 2026-11-01 (YYYY-MM-DD, UTC)") from None


def period(since: date | None, until: date | None, *, today: date) -> Period:
    """The period of `--since`/`--until`: until defaults to tomorrow (so today counts), since to
    DEFAULT_DAYS days before until."""
    end = until or today + timedelta(days=1)
    start = since or end - timedelta(days=DEFAULT_DAYS)
    return Period(midnight(start), midnight(end))
