"""Amounts as spreadsheets write them: read when unambiguous, refused with the reason when not."""

from __future__ import annotations

from decimal import Decimal

import pytest

from segmail.connector.amounts import amount, optional_amount
from segmail.connector.fields import FieldError


@pytest.mark.parametrize(
    ("text", "delimiter", "value"),
    [
        ("1250.00", ",", "1250.00"),
        ("59.90", ";", "59.90"),  # two decimals: a decimal point in any locale
        ("1,250.00", ",", "1250.00"),
        ("1.250,00", ";", "1250.00"),
        ("1250,5", ";", "1250.5"),
        ("12,5", "\t", "12.5"),
        ("1.250.000", ";", "1250000"),
        ("1,250,000.50", ",", "1250000.50"),
        ("12.345", ",", "12.345"),  # comma-separated machine format: a three-decimal currency (KWD)
        ("0,500", ";", "0.500"),  # a leading zero cannot be a thousands group
        ("0.125", ";", "0.125"),
        ("1 250,00", ";", "1250.00"),
        ("1\u00a0250,00", ";", "1250.00"),
        ("1'250.50", ",", "1250.50"),  # Swiss grouping
        (" 7 ", ",", "7"),
    ],
)
def test_unambiguous_amounts_are_read(text, delimiter, value):
    assert amount(text, "total", delimiter=delimiter) == Decimal(value)


@pytest.mark.parametrize(
    ("text", "delimiter", "reason"),
    [
        ("1,250", ",", "total '1,250' is ambiguous: ',' may separate thousands or decimals"),
        ("1.250", ";", "total '1.250' is ambiguous: '.' may separate thousands or decimals"),
        ("1.250", "\t", "is ambiguous"),
        ("1,25.00", ",", "mixes '.' and ',' in a way that is not a grouped amount"),
        ("1.250.00", ";", "not a grouped amount"),
        ("1,2,3", ";", "not a grouped amount"),
        ("12.3x", ",", "total '12.3x' is not a decimal amount"),
        ("€12", ",", "is not a decimal amount"),
        ("1_000", ",", "is not a decimal amount"),  # Decimal() would take it
        ("1e3", ",", "is not a decimal amount"),
        ("-5", ",", "total '-5' is negative"),
        ("10.00001", ",", "has more than four decimals"),
        ("", ",", "is not a decimal amount"),
    ],
)
def test_ambiguous_or_malformed_amounts_are_refused_with_the_reason(text, delimiter, reason):
    with pytest.raises(FieldError, match=None) as caught:
        amount(text, "total", delimiter=delimiter)
    assert reason in str(caught.value)


def test_an_empty_optional_amount_is_zero():
    assert optional_amount(None, "refunded") == optional_amount("  ", "refunded") == Decimal(0)
    assert optional_amount("9,90", "refunded", delimiter=";") == Decimal("9.90")
