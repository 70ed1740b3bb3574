"""Demo data for the Mailchimp sandbox: generate_shop's contacts as members, its orders as e-commerce orders, a newsletter."""

from __future__ import annotations

import csv
import hashlib
import random
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from segmail.sandbox.mailchimp_records import Campaign, second
from segmail.sandbox.mailchimp_state import SandboxState
from segmail.sandbox.shopgen import generate_shop

__all__ = ["add_audience", "audience_rows", "send_newsletter", "store_orders"]


def audience_rows(*, contacts: int, seed: int, as_of: datetime) -> list[dict[str, str]]:
    """The contacts.csv rows of `generate_shop(contacts=, seed=, as_of=)`, generated in a scratch folder."""
    with tempfile.TemporaryDirectory(prefix="segmail-audience-") as tmp:
        files = generate_shop(Path(tmp), contacts=contacts, seed=seed, as_of=as_of)
        assert files.contacts is not None
        with files.contacts.open(encoding="utf-8", newline="") as f:
            return list(csv.DictReader(f))


def add_audience(
    state: SandboxState, list_id: str, rows: list[dict[str, str]], *, seed: int, as_of: datetime
) -> int:
    """Add contacts.csv rows as members (addresses already in the list are left alone); returns how many.

    The last change is the opt-in for subscribers and a seeded later time for everyone else.
    """
    rng = random.Random(f"segmail-sandbox/{seed}/audience/{list_id}")
    as_of = second(as_of)
    lst = state.lists[list_id]
    added = 0
    for row in rows:
        if lst.member(row["email"]) is not None:
            continue
        opt = datetime.fromisoformat(row["opted_in_at"]) if row["opted_in_at"] else None
        start = opt or as_of - timedelta(days=365)
        changed = start if row["status"] == "subscribed" else start + (as_of - start) * rng.random()
        state.add_member(
            list_id, row["email"], status=row["status"], timestamp_opt=opt, last_changed=changed,
            timezone=row["timezone"], country_code=row["country"], language=row["language"],
            merge_fields={"FNAME": row["first_name"], "LNAME": row["last_name"]}, source="Import",
        )  # fmt: skip
        added += 1
    return added


def store_orders(store_id: str, orders_csv: Path, contacts_csv: Path | None) -> dict[str, dict[str, Any]]:
    """Order id -> e-commerce order JSON for a `generate_shop` orders.csv; malformed rows are skipped."""
    countries: dict[str, str] = {}
    if contacts_csv is not None:
        with contacts_csv.open(encoding="utf-8", newline="") as f:
            countries = {r["email"].strip().lower(): r["country"] for r in csv.DictReader(f)}
    with orders_csv.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    orders: dict[str, dict[str, Any]] = {}
    for row in rows:
        try:
            created = datetime.fromisoformat(row["created_at"]).astimezone(UTC)
            total = float(row["total"])
        except ValueError:
            continue  # generate_shop's deliberately malformed rows
        orders[row["order_id"]] = _order_json(store_id, row, created, total, countries)
    return orders


def _order_json(
    store_id: str, row: dict[str, str], created: datetime, total: float, countries: dict[str, str]
) -> dict[str, Any]:
    email = row["email"].strip()
    stamp = created.isoformat()
    country = countries.get(email.lower(), "")
    return {
        "id": row["order_id"],
        "store_id": store_id,
        "customer": {
            "id": hashlib.md5(email.lower().encode(), usedforsecurity=False).hexdigest(),
            "email_address": email,
        },
        "currency_code": row["currency"],
        "order_total": total,
        "financial_status": {"paid": "paid", "completed": "paid", "processing": "paid"}.get(
            row["status"], row["status"]
        ),
        "processed_at_foreign": stamp,
        "updated_at_foreign": stamp,
        "billing_address": {"country_code": country} if country else {},
        "lines": [],
        "_links": [],
    }


def send_newsletter(
    state: SandboxState,
    list_id: str,
    at: datetime,
    *,
    segment_id: int | None = None,
    by_condition: bool = False,
    title: str | None = None,
) -> Campaign:
    """A newsletter to the whole audience (or to one static segment: as the saved segment, or with
    `by_condition` as its one StaticSegment condition), created and sent at `at`."""
    campaign = state.create_campaign(
        type_="regular", list_id=list_id, segment_id=segment_id,
        settings={"subject_line": "Our autumn newsletter", "from_name": "Demo shop",
                  "reply_to": "shop@example.com", "title": title or f"newsletter {at:%Y-%m-%d}"},
        now=at,
    )  # fmt: skip
    if by_condition and segment_id is not None:
        campaign.conditions = [
            {
                "condition_type": "StaticSegment",
                "field": "static_segment",
                "op": "static_is",
                "value": segment_id,
            }
        ]
    campaign.html = "<p>News from the shop. *|UNSUB|*</p>"
    campaign.plain_text = "News from the shop. *|UNSUB|*"
    state.send(campaign, at)
    return campaign
