"""Scrubbing erased people out of free text: run errors, bucket errors, anything a message may have quoted.

No table keeps an address in free text by design (errors are masked where they are made), but an
erasure must not rely on every message everywhere having been masked. Each text column of the tables
passed in is read where it holds an `@` or a 32-digit hex word; every address of an erased person (any
case) and its Mailchimp subscriber hash (the MD5 of the address, as good as the address to anyone who
can guess it) becomes `[erased]`. JSON stays valid: the replacement has no quotes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Iterable
from typing import Final

from sqlalchemy import Connection, String, Table, Text, and_, or_, select, update

REPLACEMENT: Final = "[erased]"
_ADDRESS: Final = re.compile(r"[^\s\"'<>(),;:\[\]{}\\/]+@[^\s\"'<>(),;:\[\]{}\\/]+", re.IGNORECASE)
_MD5: Final = re.compile(r"\b[0-9a-f]{32}\b", re.IGNORECASE)


def _subscriber_hash(email_key: str) -> str:
    return hashlib.md5(email_key.encode(), usedforsecurity=False).hexdigest()


def scrub(conn: Connection, tables: Iterable[Table], email_keys: Collection[str]) -> int:
    """Replace these people's addresses and hashes in every text column of `tables`; returns cells changed."""
    if not email_keys:
        return 0
    keys = {k.lower() for k in email_keys}
    hashes = {_subscriber_hash(k) for k in keys}

    def clean(text: str) -> str:
        text = _ADDRESS.sub(lambda m: REPLACEMENT if _bare(m.group(0)) in keys else m.group(0), text)
        return _MD5.sub(lambda m: REPLACEMENT if m.group(0).lower() in hashes else m.group(0), text)

    changed = 0
    for table in tables:
        pk = list(table.primary_key.columns)
        for column in (c for c in table.columns if isinstance(c.type, String | Text)):
            found: dict[tuple[object, ...], str] = {}
            wanted = [column.contains("@", autoescape=True)]
            wanted += [or_(*(column.contains(h) for h in part)) for part in _chunks(sorted(hashes), 200)]
            for condition in wanted:  # an address anywhere, or one of these hashes
                for row in conn.execute(select(*pk, column).where(column.is_not(None), condition)):
                    found[tuple(row[:-1])] = row[-1]
            for key, old in found.items():
                new = clean(old)
                if new != old:
                    where = and_(*(c == v for c, v in zip(pk, key, strict=True)))
                    conn.execute(update(table).where(where).values({column.name: new}))
                    changed += 1
    return changed


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _bare(found: str) -> str:
    """An address as the text shows it, without trailing punctuation and in lower case."""
    return found.rstrip(".!?").lower()
