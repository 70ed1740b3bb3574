"""The generated shop is deterministic, well-formed and consistent between base and increment."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from segmail.sandbox.shopgen import (
    CONTACT_COLUMNS,
    EVENT_COLUMNS,
    ORDER_COLUMNS,
    ShopFiles,
    generate_increment,
    generate_shop,
)

AS_OF = datetime(2025, 6, 1, 12, 30, 15, 500_000, tzinfo=UTC)
CONTACTS = 2000
SEED = 42


def _rows(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames or ()) == columns
        rows = list(reader)
    for row in rows:
        assert None not in row, f"extra fields in {row}"
        assert all(value is not None for value in row.values()), f"missing fields in {row}"
    return rows


def _at(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    assert value.tzinfo is not None, text
    return value


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> ShopFiles:
    return generate_shop(tmp_path_factory.mktemp("shop"), contacts=CONTACTS, seed=SEED, as_of=AS_OF)


def test_same_seed_same_bytes_other_seed_other_bytes(shop: ShopFiles, tmp_path: Path) -> None:
    again = generate_shop(tmp_path / "again", contacts=CONTACTS, seed=SEED, as_of=AS_OF)
    other = generate_shop(tmp_path / "other", contacts=CONTACTS, seed=SEED + 1, as_of=AS_OF)
    assert again.counts == shop.counts
    for name in ("contacts", "orders", "events"):
        expected = getattr(shop, name).read_bytes()
        assert getattr(again, name).read_bytes() == expected, name
        assert getattr(other, name).read_bytes() != expected, name


def test_rows_parse_and_nothing_is_after_as_of(shop: ShopFiles) -> None:
    assert shop.contacts is not None
    contacts = _rows(shop.contacts, CONTACT_COLUMNS)
    orders = _rows(shop.orders, ORDER_COLUMNS)
    events = _rows(shop.events, EVENT_COLUMNS)
    assert shop.counts == {"contacts": len(contacts), "orders": len(orders), "events": len(events)}
    assert len(contacts) == CONTACTS
    assert 1.1 * CONTACTS < len(orders) < 1.7 * CONTACTS
    assert 2.0 * CONTACTS < len(events) < 4.0 * CONTACTS

    opted_in = [_at(c["opted_in_at"]) for c in contacts if c["opted_in_at"]]
    assert all(t <= AS_OF for t in opted_in)
    assert any(t > AS_OF - timedelta(days=30) for t in opted_in), "the welcome segment would be empty"
    assert {c["status"] for c in contacts} == {
        "subscribed", "unsubscribed", "cleaned", "pending", "transactional", "archived"
    }  # fmt: skip

    signed_up = {c["email"]: _at(c["opted_in_at"]) for c in contacts if c["opted_in_at"]}
    for order in orders:
        created = _at(order["created_at"])
        assert created <= AS_OF
        opt_in = signed_up.get(order["email"].strip().lower())
        assert opt_in is None or created >= opt_in - timedelta(days=365)
        total, refunded = Decimal(order["total"]), Decimal(order["refunded"])
        assert total > 0 and 0 <= refunded <= total
        assert total.as_tuple().exponent == -2
        assert order["currency"] == "EUR"
        assert 1 <= len(order["categories"].split("|")) <= 3
    assert any(not o["created_at"].endswith("Z") for o in orders), "no order time with an offset"

    for event in events:
        assert _at(event["at"]) <= AS_OF
        assert event["type"] in {"open", "click"}
        assert event["email"] == event["email"].lower()


def test_contact_emails_are_unique_and_lower_case(shop: ShopFiles) -> None:
    assert shop.contacts is not None
    emails = [c["email"] for c in _rows(shop.contacts, CONTACT_COLUMNS)]
    assert len(set(emails)) == len(emails)
    assert all(e == e.lower() == e.strip() and e.count("@") == 1 for e in emails)


def test_increment_ids_never_collide_and_refer_to_the_same_people(shop: ShopFiles, tmp_path: Path) -> None:
    assert shop.contacts is not None
    known = {c["email"] for c in _rows(shop.contacts, CONTACT_COLUMNS)}
    ids = [o["order_id"] for o in _rows(shop.orders, ORDER_COLUMNS)]
    for day in (1, 2):
        as_of = AS_OF + timedelta(days=day)
        inc = generate_increment(tmp_path / f"day{day}", contacts=CONTACTS, seed=SEED, as_of=as_of)
        assert inc.contacts is None and inc.counts["contacts"] == 0
        assert not (tmp_path / f"day{day}" / "contacts.csv").exists()
        orders = _rows(inc.orders, ORDER_COLUMNS)
        events = _rows(inc.events, EVENT_COLUMNS)
        assert inc.counts == {"contacts": 0, "orders": len(orders), "events": len(events)}
        assert orders and events
        ids += [o["order_id"] for o in orders]
        for at in [o["created_at"] for o in orders] + [e["at"] for e in events]:
            assert as_of - timedelta(days=1) < _at(at) <= as_of
        assert {e["email"] for e in events} <= known
        from_contacts = sum(o["email"].strip().lower() in known for o in orders)
        assert from_contacts >= 0.8 * len(orders)
    assert len(set(ids)) == len(ids)


def test_messy_rows_are_few_and_recognisable(tmp_path: Path) -> None:
    clean = generate_shop(tmp_path / "clean", contacts=500, seed=SEED, as_of=AS_OF)
    messy = generate_shop(tmp_path / "messy", contacts=500, seed=SEED, as_of=AS_OF, messy_rows=True)
    assert messy.contacts is not None
    for name in ("contacts", "orders", "events"):
        assert 3 <= messy.counts[name] - clean.counts[name] <= 20
    contacts = messy.contacts.read_text(encoding="utf-8")
    assert "not-an-email" in contacts and "2025-13-45" in contacts and "Mars/Olympus" in contacts
    assert '"12,3x"' in messy.orders.read_text(encoding="utf-8")


def test_naive_as_of_is_rejected(tmp_path: Path) -> None:
    naive = datetime(2025, 6, 1, 12, 0)
    with pytest.raises(ValueError, match="as_of"):
        generate_shop(tmp_path, contacts=10, seed=1, as_of=naive)
    with pytest.raises(ValueError, match="as_of"):
        generate_increment(tmp_path, contacts=10, seed=1, as_of=naive)
    assert not list(tmp_path.iterdir())
