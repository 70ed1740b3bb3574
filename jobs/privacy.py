"""Erasure and access requests: `segmail forget` and `segmail export-person` (and Shopify's and WordPress's requests).

An erasure runs in two parts. Mailchimp first, one member at a time: `--mailchimp` deletes the member
there permanently; otherwise only segmail's own tags (its segments' tags and its send buckets' segments)
are taken off, and the member and its other tags stay. A Mailchimp failure stops the command before
the store is touched, so a re-run does the whole request again. Then the store, in one transaction:
every person erased and suppressed (store/erasure.py), the shop orders a request names anonymised, a
whole shop's data deleted for Shopify's shop/redact, and the audit entries; a process killed at any
point before the commit leaves the store as it was.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Literal

from segmail.connector import mailchimp_privacy as mc
from segmail.connector.mailchimp import MailchimpApi
from segmail.jobs.buckets import SEND_SEGMENT_PREFIX
from segmail.jobs.config import AppConfig
from segmail.store import audit, person
from segmail.store.codec import to_us
from segmail.store.db import Store
from segmail.store.erasure import anonymise_orders, checkpoint, delete_source, erase_people, owners_of_orders
from segmail.store.suppression import normalise

# Tests only (tests/test_privacy_kill.py): a path P; the erasure's transaction, all its work done and not
# yet committed, creates P.ready and waits for P.go, so a test can kill the process at exactly that point.
PAUSE_ENV: Final = "SEGMAIL_TEST_PAUSE_IN_ERASURE"

MailchimpMode = Literal["delete", "untag", "skip"]


@dataclass(frozen=True, kw_only=True)
class ErasureRequest:
    emails: tuple[str, ...] = ()
    request: str = "cli"  # for the audit log: where the request came from, never whom it names
    order_ids: tuple[
        str, ...
    ] = ()  # shop orders to anonymise whoever holds them (Shopify's orders_to_redact)
    order_source: str = "shopify"
    whole_source: str | None = None  # Shopify's shop/redact: every order and cursor of this source


@dataclass
class ErasureResult:
    people: int  # people erased (asked for, or found owning the named orders)
    found: int  # of them, those the store held something about
    rows: dict[str, int]
    newly_suppressed: int
    mailchimp: Counter[str] = field(default_factory=Counter)  # deleted | untagged | not in the audience


def erase(
    store: Store,
    config: AppConfig,
    req: ErasureRequest,
    *,
    now: datetime,
    command: str,
    api: MailchimpApi | None,
    mode: MailchimpMode,
) -> ErasureResult:
    people = {normalise(e) for e in req.emails}
    if req.order_ids and not people:  # customers/redact without an address: the orders' owners
        with store.engine.begin() as conn:
            people = owners_of_orders(conn, req.order_source, req.order_ids)
    emails = sorted(people)
    done_in_mailchimp = (
        _mailchimp(config, api, emails, mode) if api is not None and mode != "skip" else Counter()
    )
    now_us = to_us(now)
    with store.engine.begin() as conn:
        erased = erase_people(conn, emails, now_us=now_us)
        rows = Counter(erased.rows)
        if req.order_ids:
            rows["orders"] += anonymise_orders(conn, req.order_source, req.order_ids, now_us=now_us)
        if req.whole_source is not None:
            rows.update(delete_source(conn, req.whole_source))
        rows = Counter({k: v for k, v in rows.items() if v})
        entry = audit.Entry(
            kind="erasure", request=req.request, command=command, people=len(emails), rows=rows
        )
        audit.record(conn, entry, now_us=now_us)
        if erased.newly_suppressed:
            added = audit.Entry(
                kind="suppression", request=req.request, command=command, people=erased.newly_suppressed,
                rows={"suppressions": erased.newly_suppressed},
            )  # fmt: skip
            audit.record(conn, added, now_us=now_us)
        _pause_for_tests()
    with store.engine.connect() as conn:  # outside a transaction: SQLite checkpoints only then
        checkpoint(conn)
    return ErasureResult(len(emails), erased.found, dict(rows), erased.newly_suppressed, done_in_mailchimp)


def _mailchimp(
    config: AppConfig, api: MailchimpApi, emails: Iterable[str], mode: MailchimpMode
) -> Counter[str]:
    """Delete each member permanently, or take segmail's tags off it; what happened, counted."""
    list_id = config.mailchimp.list_id
    managed = {d.tag for d in config.segment_defs.values()}
    done: Counter[str] = Counter()
    for email in emails:
        if mode == "delete":
            done["deleted" if mc.delete_permanently(api, list_id, email) else "not in the audience"] += 1
            continue
        tags = mc.member_tags(api, list_id, email)
        if tags is None:
            done["not in the audience"] += 1
            continue
        own = [t for t in tags if t in managed or t.startswith(SEND_SEGMENT_PREFIX)]
        if own and mc.remove_tags(api, list_id, email, own):
            done["untagged"] += 1
        else:
            done["had no segmail tag"] += 1
    return done


def _pause_for_tests() -> None:
    path = os.environ.get(PAUSE_ENV)
    if not path:
        return
    Path(f"{path}.ready").touch()
    while not Path(f"{path}.go").exists():  # a handshake, not a timed wait: the test decides
        time.sleep(0.01)


def export(
    store: Store,
    config: AppConfig,
    email: str,
    *,
    now: datetime,
    command: str,
    request: str = "cli",
    order_ids: tuple[str, ...] = (),
    order_source: str = "shopify",
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything the store holds about one person, as one JSON-ready document; the access is audited."""
    key = normalise(email)
    tags = {name: d.tag for name, d in config.segment_defs.items()}
    with store.engine.begin() as conn:
        held = person.person(conn, key)
        requested = person.orders_by_id(conn, order_source, order_ids) if order_ids else []
        for part in ("segments", "tags_confirmed", "tag_push_errors"):
            for row in held[part]:
                row["tag"] = tags.get(row["segment"])
        counts = {k: len(v) for k, v in held.items() if isinstance(v, list) and v}
        if requested:
            counts["orders_requested"] = len(requested)
        entry = audit.Entry(kind="access", request=request, command=command, people=1, rows=counts)
        audit.record(conn, entry, now_us=to_us(now))
    doc: dict[str, Any] = {
        "email": key,
        "exported_at": now.isoformat().replace("+00:00", "Z"),
        "held": held["contact"] is not None or any(counts.values()),
        **held,
    }
    if order_ids:
        doc["orders_requested"] = requested
    if extra:
        doc["request"] = dict(extra)
    return doc
