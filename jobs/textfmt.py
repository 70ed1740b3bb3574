"""Counts and values as people read them: `key=value` pairs, never a Python repr (`{'a': 1}`, `Decimal('1')`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal


def text(value: object) -> str:
    """One value for a table cell or a log line: 12.50 not Decimal('12.50'), ISO dates, lists joined."""
    if value is None:
        return "-"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return pairs(value)
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(text(v) for v in value) or "none"
    return str(value)


def pairs(counts: Mapping[str, object]) -> str:
    """`orders=445, pages=5`; a nested mapping or list reads `vip (size=13, entered=13)`, so rows stay readable."""
    return ", ".join(
        f"{key} ({text(value)})" if isinstance(value, Mapping | list | tuple) else f"{key}={text(value)}"
        for key, value in counts.items()
    )
