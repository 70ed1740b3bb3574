"""A shop with one person to erase in every table that can hold a person, and a search of the whole database.

`JANE` touches contacts, orders (the biggest spender, with repeat purchases, so she moves the VIP
threshold and the median repurchase gap), events, memberships, esp_memberships, esp_push_errors, features,
order_gaps, feature_dirty, send_ledger (with a bucket), send_unsent, and a run's error text.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import timedelta

from sqlalchemy import LargeBinary, String, Text, create_engine, func, inspect, select, text

from segmail.store import esp, ledger, unsent
from segmail.store.codec import to_us
from segmail.store.db import Store
from segmail.store.runs import finish_run, start_run
from segmail.store.schema import send_buckets, send_ledger
from tests.conftest import T
from tests.shop import Shop, config, days

JANE = "Jane.Doe@Example.com"  # as she typed it: the store keeps this spelling in contacts.email
JANE_KEY = JANE.lower()
OTHERS = [f"buyer{n}@shop.example" for n in range(12)]


def base(store: Store) -> Shop:
    """Twelve buyers with one or two orders, opens, a couple of plain subscribers."""
    shop = Shop(store)
    for n, email in enumerate(OTHERS):
        shop.contact(email, opted_in_at=T - days(400 + n), first_name=f"B{n}", country="DE")
        shop.order(email, T - days(200 - n), total=f"{20 + 5 * n}.00", cats=("boots",))
        if n % 3 == 0:
            shop.order(email, T - days(120 - n), total="15.00")
        shop.event(email, T - days(10 + n))
    shop.contact("quiet@shop.example", opted_in_at=T - days(5))
    shop.contact("sleepy@shop.example", opted_in_at=T - days(500))
    return shop


def add_jane(shop: Shop) -> None:
    shop.contact(
        JANE,
        opted_in_at=T - days(300),
        first_name="Jane",
        last_name="Doe",
        country="AT",
        timezone="Europe/Vienna",
    )
    for n in range(4):  # the biggest spender, with short gaps: she moves the VIP threshold and the median
        shop.order(JANE_KEY, T - days(100 - 7 * n), total="400.00", cats=("secret-hobby",))
    shop.event(JANE_KEY, T - days(3))
    shop.event(JANE_KEY, T - days(3) + timedelta(minutes=2), type="click")


def segments(store: Store, cfg=None) -> dict[str, set[str]]:
    shop = Shop(store)
    return shop.segments(T, cfg or config())


def mail_history(store: Store) -> None:
    """What a send job and a tag push leave about Jane and a buyer: ledger rows in a bucket, a skip,
    an unsent error, confirmed tags, a refused tag, and a run whose error quoted her address."""
    now_us = to_us(T)
    entries = tuple(
        ledger.Entry(key, "2026-06-20", to_us(T + days(5)), "Europe/Vienna", "mailchimp", None)
        for key in (JANE_KEY, OTHERS[0])
    )
    write = ledger.SlotWrite(
        campaign="vip_early", created_at=now_us,
        skips=(ledger.Entry(OTHERS[1], "2026-06-20", to_us(T + days(5)), "UTC", "default", "frequency_cap"),),
        buckets=(ledger.NewBucket(prefix="vip_early-abc", slot_at=to_us(T + days(5)), send_at=to_us(T + days(5)),
                                  variant='{"language": "de"}', title="segmail vip_early", entries=entries),),
    )  # fmt: skip
    with store.engine.begin() as conn:
        ledger.write_slot(conn, write)
        unsent.record(
            conn,
            [unsent.Unsent("welcome", JANE_KEY, "enter:1", "template_error", "boom", None, now_us, now_us)],
        )
        esp.confirm(conn, "vip", added=[JANE_KEY, OTHERS[0]], removed=[], refused={}, now_us=now_us)
        esp.confirm(
            conn,
            "unengaged",
            added=[],
            removed=[],
            refused={JANE_KEY: ("add", "not subscribed")},
            now_us=now_us,
        )
        run_id = start_run(conn, kind="cycle", as_of=T, now=T)
        finish_run(conn, run_id, now=T, stats={"steps": [{"name": "push tags", "status": "failed", "seconds": 0.5,
                                                 "counts": {}, "error": f"refused {JANE} (Mailchimp)"}]},
                   error=f"push tags: {JANE} is in a compliance state; member {hashlib.md5(JANE_KEY.encode()).hexdigest()}")  # fmt: skip


def campaign_counts(store: Store) -> tuple[Counter[tuple[str, str]], dict[str, int]]:
    with store.engine.connect() as conn:
        ledger_rows = Counter(
            (c, s) for c, s in conn.execute(select(send_ledger.c.campaign, send_ledger.c.status))
        )
        buckets = dict(conn.execute(select(send_buckets.c.bucket_id, send_buckets.c.recipients)).all())
    return ledger_rows, buckets


def found_anywhere(url: str, needles: list[str]) -> list[str]:
    """Every (table.column) whose value holds a needle, in any case: every text and binary column of
    every table in the database, segmail's or not (APScheduler's job table too)."""
    engine = create_engine(url)
    hits = []
    try:
        with engine.connect() as conn:
            insp = inspect(conn)
            for table in insp.get_table_names():
                for column in insp.get_columns(table):
                    kind, name = column["type"], column["name"]
                    if isinstance(kind, String | Text):
                        for needle in needles:
                            query = text(f'SELECT count(*) FROM "{table}" WHERE lower("{name}") LIKE :p')
                            if conn.execute(query, {"p": f"%{needle.lower()}%"}).scalar():
                                hits.append(f"{table}.{name}")
                    elif isinstance(kind, LargeBinary):
                        for (blob,) in conn.execute(text(f'SELECT "{name}" FROM "{table}"')):
                            raw = bytes(blob or b"").lower()
                            hits += [f"{table}.{name}" for n in needles if n.lower().encode() in raw]
    finally:
        engine.dispose()
    return hits


def count_rows(store: Store, table) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())
