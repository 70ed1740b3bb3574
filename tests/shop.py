"""A tiny in-test shop builder: contacts, orders and events written through the real writer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import count

from segmail.connector.records import Contact, Event, Order, Record
from segmail.jobs.compute import compute
from segmail.jobs.config import AppConfig, parse_config
from segmail.store.codec import to_us
from segmail.store.db import Store
from segmail.store.writer import write_records

_ids = count(1)


def config(segments: dict | None = None, **sections) -> AppConfig:
    from pathlib import Path

    data = {"segments": segments or {}, **sections}
    return parse_config(data, origin="test", base_dir=Path("."), env={})


def days(n: float) -> timedelta:
    return timedelta(days=n)


@dataclass
class Shop:
    store: Store
    records: list[Record] = field(default_factory=list)

    def contact(
        self, email: str, status: str = "subscribed", opted_in_at: datetime | None = None, **kw
    ) -> str:
        self.records.append(
            Contact(
                email=email, email_key=email.strip().lower(), status=status, opted_in_at=opted_in_at, **kw
            )
        )
        return email.strip().lower()

    def order(
        self,
        email: str,
        at: datetime,
        total: str = "10.00",
        status: str = "paid",
        refunded: str = "0",
        cats=(),
    ) -> None:
        self.records.append(
            Order(
                order_id=f"o{next(_ids)}",
                email_key=email,
                created_at=at,
                total=Decimal(total),
                refunded=Decimal(refunded),
                currency="EUR",
                status=status,
                categories=tuple(cats),
            )
        )

    def event(self, email: str, at: datetime, type: str = "open") -> None:
        self.records.append(Event(email_key=email, type=type, at=at, campaign_id="c1"))

    def flush(self, now: datetime) -> None:
        with self.store.engine.begin() as conn:
            write_records(conn, self.records, source="test", now_us=to_us(now))
        self.records.clear()

    def segments(self, as_of: datetime, cfg: AppConfig | None = None) -> dict[str, set[str]]:
        self.flush(as_of)
        cfg = cfg or config()
        compute(self.store, cfg, as_of=as_of, now=as_of)
        from sqlalchemy import select

        from segmail.store.schema import memberships

        out: dict[str, set[str]] = {name: set() for name in cfg.segment_defs}
        with self.store.engine.connect() as conn:
            for seg, key in conn.execute(select(memberships.c.segment, memberships.c.email_key)):
                out[seg].add(key)
        return out
