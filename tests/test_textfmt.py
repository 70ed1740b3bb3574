"""Human output: counts as key=value and values as people write them, never a Python repr."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from segmail.jobs.textfmt import pairs, text


def test_pairs_flattens_nested_counts_readably():
    counts = {"resumed": 0, "vip": {"recipients": 13, "jobs": 6}, "runs": [3, 4], "error": None}
    assert pairs(counts) == "resumed=0, vip (recipients=13, jobs=6), runs (3, 4), error=-"


def test_values_are_shown_as_people_write_them():
    assert text(Decimal("1250.00")) == "1250.00"
    assert text(Decimal("1E+3")) == "1000"
    assert text(datetime(2026, 6, 15, 12, tzinfo=UTC)) == "2026-06-15T12:00:00+00:00"
    assert text(date(2026, 6, 15)) == "2026-06-15"
    assert text([]) == "none"
