"""The suppression list: erased people, as keyed hashes, whom no import or pull may store again.

An entry is HMAC-SHA256 of the normalised email (`email.strip().lower()`, segmail's identity) under a
random 256-bit secret the store makes for itself on first use and keeps in `segmail_meta`. Why a key,
and why kept in the store: a plain hash of an email is reversed by hashing a list of guessed addresses,
so the list alone (an export, a screenshot, a support ticket) would say who asked to be forgotten; with
the key it says nothing. The key travels with the store, so a restored backup still suppresses
everyone it should; a key from the environment could be lost or changed, and then every suppression
would silently stop working. Someone holding the whole store can still test a guessed address, as
the service itself must; that reader already sees every other contact in clear.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Collection, Iterable, Sequence
from typing import Final, Protocol, TypeVar

from sqlalchemy import Connection, func, select

from segmail.store.db import get_meta
from segmail.store.schema import meta, suppressions
from segmail.store.upsert import insert_ignore

SECRET_KEY: Final = "suppression_secret"
_CHUNK: Final = 5_000  # hashes per lookup: one bound array on PostgreSQL, one JSON text on SQLite


def normalise(email: str) -> str:
    """segmail's identity of an address (ARCHITECTURE.md: `email_key`)."""
    return email.strip().lower()


def secret(conn: Connection) -> bytes:
    """The store's suppression key, made on first use; two first users agree on the row that won."""
    stored = get_meta(conn, SECRET_KEY)
    if stored is None:
        insert_ignore(conn, meta, [{"key": SECRET_KEY, "value": json.dumps(secrets.token_hex(32))}])
        stored = get_meta(conn, SECRET_KEY)
    return bytes.fromhex(str(stored))


def email_hash(key: bytes, email_key: str) -> str:
    return hmac.new(key, normalise(email_key).encode(), hashlib.sha256).hexdigest()


def add(conn: Connection, email_keys: Iterable[str], *, now_us: int) -> int:
    """Suppress these people; returns how many were not suppressed already."""
    key = secret(conn)
    hashes = sorted({email_hash(key, k) for k in email_keys})
    if not hashes:
        return 0
    before = len(_present(conn, hashes))
    insert_ignore(conn, suppressions, [{"email_hash": h, "created_at": now_us} for h in hashes])
    return len(hashes) - before


def is_empty(conn: Connection) -> bool:
    return conn.execute(select(suppressions.c.email_hash).limit(1)).first() is None


def count(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(suppressions)).scalar_one())


def suppressed(conn: Connection, email_keys: Collection[str]) -> set[str]:
    """The keys among `email_keys` that are suppressed; one cheap query when the list is empty."""
    if not email_keys or is_empty(conn):
        return set()
    key = secret(conn)
    by_hash = {email_hash(key, k): k for k in email_keys}
    return {by_hash[h] for h in _present(conn, list(by_hash))}


class _Keyed(Protocol):
    @property
    def email_key(self) -> str: ...


K = TypeVar("K", bound=_Keyed)


def unsuppressed(conn: Connection, records: Sequence[K]) -> list[K]:
    """The records whose person is not on the suppression list (campaign activity, anything keyed)."""
    gone = suppressed(conn, {r.email_key for r in records})
    return [r for r in records if r.email_key not in gone] if gone else list(records)


def _present(conn: Connection, hashes: list[str]) -> set[str]:
    """Which of these hashes are in the list: one array (PostgreSQL) or JSON text (SQLite) per chunk."""
    found: set[str] = set()
    for start in range(0, len(hashes), _CHUNK):
        part = hashes[start : start + _CHUNK]
        if conn.dialect.name == "postgresql":
            sql = "SELECT email_hash FROM suppressions WHERE email_hash = ANY(%s)"
            found.update(conn.exec_driver_sql(sql, (part,)).scalars())
        else:
            sql = "SELECT email_hash FROM suppressions WHERE email_hash IN (SELECT value FROM json_each(?))"
            found.update(conn.exec_driver_sql(sql, (json.dumps(part),)).scalars())
    return found
