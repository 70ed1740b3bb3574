"""Conversions between boundary types and the integer columns the store keeps.

Timestamps are stored as integer microseconds since the Unix epoch (UTC) and money as
integer units of 1/10000 of the currency. Integers compare and sum exactly on SQLite and
PostgreSQL alike, so rule boundaries ("within 30 days, inclusive", VIP ties) are exact on both.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

US_PER_SECOND = 1_000_000
US_PER_DAY = 86_400 * US_PER_SECOND
MONEY_SCALE = 10_000  # four decimals cover every ISO 4217 currency
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)


def to_us(value: datetime) -> int:
    """Aware datetime → epoch microseconds; naive datetimes are a programming error."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} given where an aware UTC time is required")
    return (value - _EPOCH) // _ONE_US


def from_us(value: int | None) -> datetime | None:
    if value is None:
        return None
    return _EPOCH + timedelta(microseconds=int(value))


def to_e4(amount: Decimal) -> int:
    """Decimal amount → integer 1/10000 units; more than four decimals is refused, not rounded."""
    scaled = amount * MONEY_SCALE
    if scaled != scaled.to_integral_value():
        raise ValueError(f"amount {amount} has more than four decimals")
    return int(scaled)


def from_e4(value: int | None) -> Decimal | None:
    """Integer 1/10000 units → Decimal, shown with cents unless finer digits are really there."""
    if value is None:
        return None
    amount = Decimal(int(value)).scaleb(-4)
    cents = amount.quantize(Decimal("0.01"))
    return cents if cents == amount else amount.normalize()
