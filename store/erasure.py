"""Erasing people from the store: every table that holds them, inside the caller's one transaction.

The caller's transaction commits the whole erasure or none of it, so a process killed midway leaves the
store as it was (tests/test_privacy_kill.py kills one). What happens to each table is declared once in
`TABLE_ACTIONS`, and tests/test_privacy_erasure.py fails when a table is added without a line there:

- deleted (keyed by the person's email): contacts, events, memberships, esp_memberships, esp_push_errors,
  features, order_gaps, feature_dirty, send_unsent, predict_scores and predict_dirty (the prediction cache),
  segment_history (entries and exits), campaign_activity (bounces, unsubscribes, proxy opens).
- orders, kept as anonymous sales: `email_key` becomes `erased:` + 32 random hex digits (one per person,
  not derived from the email, so a model of repeat buying still sees one customer), `order_id` becomes
  random too (the shop's id would lead back to the person in the shop's admin), `created_at` is cut to
  its UTC day, and categories, country and province are cleared. What is left (a day, an amount, a
  currency, a status, the system it came from) describes a sale and no person: it is what Shopify itself
  keeps when it erases a customer ("Non-personal data, such as order information about what was sold,
  the date and time of the sale, and the order value is maintained",
  https://help.shopify.com/en/manual/privacy-and-security/privacy/processing-customer-data-requests).
  No contact carries that key, so segments never see these orders: the population, the median
  repurchase gap and the VIP threshold are exactly those of a store that never held the person. The
  predictive models (store/paid_orders.py), fitted to every paid order, keep the purchase.
- send_ledger, kept for the counts: each row under its own random `erased:` key (no two rows can be
  linked), time zone cleared; campaigns and buckets count the same recipients as before.
- runs, send_buckets, segmail_meta, cursors, service_instances: nobody by design; their free text is
  scrubbed of the person's addresses and subscriber hashes (store/erasure_text.py).
- suppressions gains the person's keyed hash (store/suppression.py); predict_fits (model parameters),
  predict_reference (sorted score values, nobody's row), ab_decisions (a test's decision and per-variant
  figures), campaign_results (a campaign's report figures) and privacy_audit (counts) hold nobody.
  APScheduler's own table (segmail_jobs, not in this metadata) holds job ids and each send job's campaign and slot: nobody either (the tests search it too).
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import Connection, delete, insert, select

from segmail.store import feature_lock, suppression
from segmail.store.codec import US_PER_DAY
from segmail.store.erasure_text import scrub
from segmail.store.predict_dirty import everything as all_scores_stale
from segmail.store.schema import (
    ab_decisions,
    campaign_activity,
    campaign_results,
    contacts,
    cursors,
    esp_memberships,
    esp_push_errors,
    events,
    feature_dirty,
    features,
    instances,
    memberships,
    meta,
    order_gaps,
    orders,
    predict_dirty,
    predict_fits,
    predict_reference,
    predict_scores,
    privacy_audit,
    runs,
    segment_history,
    send_buckets,
    send_ledger,
    send_unsent,
    suppressions,
)
from segmail.store.upsert import insert_ignore

ERASED_PREFIX: Final = "erased:"
CHUNK: Final = 500  # people per statement

DELETED: Final = (
    contacts, events, memberships, esp_memberships, esp_push_errors, features, order_gaps, feature_dirty,
    send_unsent, predict_scores, predict_dirty, segment_history, campaign_activity,
)  # fmt: skip
ANONYMISED: Final = (orders, send_ledger)
SCRUBBED: Final = (runs, send_buckets, meta, cursors, instances)
NOBODY: Final = (predict_fits, predict_reference, suppressions, privacy_audit, ab_decisions, campaign_results)
TABLE_ACTIONS: Final[dict[str, str]] = {
    **{t.name: "deleted" for t in DELETED},
    orders.name: "anonymised: random key and order id, UTC day, no categories or address",
    send_ledger.name: "anonymised: a random key per row, no time zone",
    **{t.name: "free text scrubbed" for t in SCRUBBED},
    suppressions.name: "the person's keyed hash added",
    predict_fits.name: "kept: model parameters and counts only",
    predict_reference.name: "kept: sorted score values, each column on its own, nobody's row",
    ab_decisions.name: "kept: each A/B test's decision and its figures, per variant, nobody",
    campaign_results.name: "kept: each campaign's report figures (counts), nobody",
    privacy_audit.name: "an entry added: counts, never the email",
}


def erased_key() -> str:
    """A fresh anonymous key: random, so nothing about the person can recompute it."""
    return ERASED_PREFIX + secrets.token_hex(16)


@dataclass(frozen=True)
class Erased:
    people: int  # addresses asked for
    found: int  # of them, the people the store held something about
    newly_suppressed: int
    rows: dict[str, int]  # table -> rows deleted, anonymised or scrubbed


def erase_people(conn: Connection, email_keys: Iterable[str], *, now_us: int) -> Erased:
    """Erase these people from every table and suppress them; within the caller's transaction."""
    keys = sorted({suppression.normalise(k) for k in email_keys if k.strip()})
    feature_lock.writing(conn)  # no cache refresh rebuilds a row this erasure deletes
    rows: Counter[str] = Counter()
    found: set[str] = set()
    with secure_delete(conn):
        for part in _chunks(keys):
            found |= _holders(conn, part)
            rows[orders.name] += _anonymise_orders(conn, orders.c.email_key.in_(part), now_us)
            rows[send_ledger.name] += _anonymise_ledger(conn, part)
            for table in DELETED:
                rows[table.name] += conn.execute(delete(table).where(table.c.email_key.in_(part))).rowcount
        rows["text scrubbed"] += scrub(conn, SCRUBBED, keys)
    new = suppression.add(conn, keys, now_us=now_us)
    return Erased(len(keys), len(found), new, {k: v for k, v in rows.items() if v})


def _holders(conn: Connection, keys: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for table in (contacts, orders, events, memberships, send_ledger, send_unsent):
        found.update(conn.execute(select(table.c.email_key).where(table.c.email_key.in_(keys))).scalars())
    return found


def owners_of_orders(conn: Connection, source: str, order_ids: Sequence[str]) -> set[str]:
    """Whose these orders are (Shopify's customers/redact may name the orders without the address)."""
    o = orders.c
    query = select(o.email_key).where(o.source == source, o.order_id.in_(list(order_ids)))
    return {k for k in conn.execute(query).scalars() if not k.startswith(ERASED_PREFIX)}


def anonymise_orders(conn: Connection, source: str, order_ids: Sequence[str], *, now_us: int) -> int:
    """Anonymise these orders whoever they belong to; their owners' features go stale."""
    o = orders.c
    feature_lock.writing(conn)
    n = 0
    for part in _chunks(list(order_ids)):
        where = (o.source == source) & o.order_id.in_(part)
        owners = set(conn.execute(select(o.email_key).where(where)).scalars())
        n += _anonymise_orders(conn, where, now_us)
        _mark_stale(conn, owners)
    return n


def delete_source(conn: Connection, source: str) -> dict[str, int]:
    """A shop's data gone (Shopify's shop/redact): its orders and its cursors; owners' features go stale."""
    feature_lock.writing(conn)
    owners = set(conn.execute(select(orders.c.email_key).where(orders.c.source == source)).scalars())
    with secure_delete(conn):
        n_orders = conn.execute(delete(orders).where(orders.c.source == source)).rowcount
        if n_orders:
            all_scores_stale(conn)
        n_cursors = conn.execute(delete(cursors).where(cursors.c.source == source)).rowcount
    _mark_stale(conn, owners)
    return {k: v for k, v in ((orders.name, n_orders), (cursors.name, n_cursors)) if v}


def _anonymise_orders(conn: Connection, where: Any, now_us: int) -> int:
    found = [dict(r) for r in conn.execute(select(orders).where(where)).mappings()]
    if not found:
        return 0
    keys = {owner: erased_key() for owner in {r["email_key"] for r in found}}
    conn.execute(delete(orders).where(where))
    all_scores_stale(conn)  # the buyers the predictive models see changed, yet nobody's data did
    conn.execute(
        insert(orders),
        [
            {
                **r, "email_key": keys[r["email_key"]], "order_id": secrets.token_hex(16),
                "created_at": r["created_at"] // US_PER_DAY * US_PER_DAY, "categories": "", "country": None,
                "province": None, "updated_at": now_us,
            }
            for r in found
        ],
    )  # fmt: skip
    return len(found)


def _anonymise_ledger(conn: Connection, keys: Sequence[str]) -> int:
    where = send_ledger.c.email_key.in_(keys)
    found = [dict(r) for r in conn.execute(select(send_ledger).where(where)).mappings()]
    if not found:
        return 0
    conn.execute(delete(send_ledger).where(where))
    conn.execute(
        insert(send_ledger),
        [{**r, "email_key": erased_key(), "timezone": "", "tz_source": "erased"} for r in found],
    )
    return len(found)


def _mark_stale(conn: Connection, owners: Iterable[str]) -> None:
    feature_lock.writing(conn)
    rows = [{"email_key": k} for k in sorted(owners) if not k.startswith(ERASED_PREFIX)]
    insert_ignore(conn, feature_dirty, rows)


@contextmanager
def secure_delete(conn: Connection) -> Iterator[None]:
    """SQLite overwrites deleted content with zeros while this is on, so the bytes do not linger in
    free pages until a VACUUM (https://www.sqlite.org/pragma.html#pragma_secure_delete). PostgreSQL
    keeps dead row versions until its VACUUM; see the README's Privacy section."""
    if conn.dialect.name != "sqlite":
        yield
        return
    before = conn.exec_driver_sql("PRAGMA secure_delete").scalar()
    conn.exec_driver_sql("PRAGMA secure_delete = ON")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA secure_delete = {int(before or 0)}")


def checkpoint(conn: Connection) -> None:
    """SQLite: copy the WAL into the database and truncate it, so erased rows' old pages leave the WAL
    now rather than at the next automatic checkpoint. Best effort: a reader can hold it back."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def is_erased_key(email_key: str) -> bool:
    return email_key.startswith(ERASED_PREFIX)
