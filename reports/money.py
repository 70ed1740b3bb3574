"""Money in the reports: exact sums of the store's 1/10000 units, shown as plain decimals."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from segmail.store.codec import MONEY_SCALE, from_e4

_E4 = Decimal("0.0001")


def amount(e4: int) -> Decimal:
    """An exact amount (cents unless finer digits are really there)."""
    value = from_e4(e4)
    assert value is not None
    return value


def per(e4: int, count: int) -> Decimal | None:
    """`e4` shared over `count` (revenue per recipient or member), to 1/10000, half to even; None for 0."""
    if count <= 0:
        return None
    return (Decimal(e4) / MONEY_SCALE / count).quantize(_E4, rounding=ROUND_HALF_EVEN)
