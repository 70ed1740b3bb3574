"""Amounts as people's spreadsheets write them: `1250.00`, `1,250.00`, `1.250,00`, `1250,5`.

An amount is read only when its meaning does not depend on a locale guess:
- both `,` and `.` present: the last one is the decimal mark, the other groups thousands
  (`1,250.00`, `1.250,00`); the groups must be three digits each;
- one mark repeated: it groups thousands (`1.250.000`);
- one mark once, followed by one, two or four-plus digits: it is the decimal mark (`12,5`, `59.90`);
- one mark once, followed by exactly three digits, is ambiguous (`1,250` is 1250 in the US and
  1.25 in Germany) and refused with that reason. The one exception: a `.` in a comma-separated
  file, the machine format every shop exporter writes (`12.345` is a three-decimal currency
  such as KWD there), is a decimal point. In a semicolon- or tab-separated file, the layout of
  locales that write decimal commas, `1.250` is refused like `1,250`.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Final

from segmail.connector import fields
from segmail.connector.fields import FieldError

_PLAIN: Final = re.compile(r"\d+(?:\.(\d+))?")
_GROUPED: Final = {mark: re.compile(rf"\d{{1,3}}(?:{re.escape(mark)}\d{{3}})+") for mark in ".,"}
_SPACES: Final = str.maketrans("", "", " \u00a0\u202f'")  # thousands spaces and the Swiss apostrophe
_CHARS: Final = frozenset("0123456789.,")


def amount(raw: str, field: str, *, delimiter: str = ",") -> Decimal:
    """The amount in `raw` (non-negative, at most four decimals) or FieldError saying why not."""
    text = raw.strip()
    plain = _PLAIN.fullmatch(text)
    if plain is not None and not (delimiter != "," and _three_decimals(text, plain.group(1))):
        return fields.money(text, field)
    if text.startswith("-"):
        return fields.money(text, field)  # says "negative", or "not a decimal amount"
    return fields.money(_normalize(text, field), field)


def _three_decimals(text: str, decimals: str | None) -> bool:
    return decimals is not None and len(decimals) == 3 and not text.startswith("0.")


def _normalize(text: str, field: str) -> str:
    """`text` with a `.` decimal point and no grouping; FieldError when it is not an amount or ambiguous."""
    compact = text.translate(_SPACES)
    if not compact or not set(compact) <= _CHARS:
        raise FieldError(f"{field} {text!r} is not a decimal amount")
    dots, commas = compact.count("."), compact.count(",")
    if dots and commas:
        last = max(compact.rfind("."), compact.rfind(","))
        mark, whole, decimals = compact[last], compact[:last], compact[last + 1 :]
        other = "," if mark == "." else "."
        if mark in whole or not _GROUPED[other].fullmatch(whole) or not decimals.isdigit():
            raise FieldError(f"{field} {text!r} mixes '.' and ',' in a way that is not a grouped amount")
        return f"{whole.replace(other, '')}.{decimals}"
    if not dots and not commas:
        return compact
    mark = "." if dots else ","
    if dots + commas > 1:  # one mark, repeated: it groups thousands
        if not _GROUPED[mark].fullmatch(compact):
            raise FieldError(f"{field} {text!r} is not a grouped amount (groups of three digits expected)")
        return compact.replace(mark, "")
    whole, decimals = compact.split(mark)
    if not decimals.isdigit() or (whole and not whole.isdigit()):
        raise FieldError(f"{field} {text!r} is not a decimal amount")
    if len(decimals) == 3 and whole not in ("", "0"):
        raise FieldError(
            f"{field} {text!r} is ambiguous: '{mark}' may separate thousands or decimals; write "
            f"{whole}{decimals} if thousands are meant, else give the decimals in full (e.g. 1,250.00 or 1.250,00)"
        )
    return f"{whole or '0'}.{decimals}"


def optional_amount(raw: str | None, field: str, *, delimiter: str = ",") -> Decimal:
    """`amount`, with an empty or absent value read as zero (a refund column left blank)."""
    return amount(raw, field, delimiter=delimiter) if raw and raw.strip() else Decimal(0)
