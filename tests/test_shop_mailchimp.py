"""Orders from Mailchimp's e-commerce store data: full passes, skip-unchanged, edits, refunds, resume."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from segmail.connector.http import ConfigurationError
from segmail.jobs.shop_pull import pull_orders
from segmail.jobs.wiring import WiringError, open_shop
from segmail.sandbox.shopgen import generate_shop
from segmail.store.schema import orders
from tests.conftest import T
from tests.mailchimp_fixture import checked_sandbox
from tests.shop import config

KEY = "0123456789abcdef0123456789abcdef-us6"


@pytest.fixture
def sandbox(tmp_path):
    with checked_sandbox(api_key=KEY, clock=lambda: T) as box:
        files = generate_shop(tmp_path / "shop", contacts=800, seed=4, as_of=T - timedelta(days=1))
        box.load_store_orders("store1", files.orders, contacts_csv=files.contacts)
        yield box


def cfg(sandbox):
    return config(mailchimp={"api_url": sandbox.base_url}, shop={"kind": "mailchimp", "store_id": "store1"})


def pull(store, c, env=None):
    source = open_shop(c, env or {"MAILCHIMP_API_KEY": KEY}, sleep=lambda _s: None)
    try:
        return pull_orders(store, c, source, now=T)
    finally:
        source.close()


def stored(store):
    with store.engine.connect() as conn:
        return {r.order_id: r for r in conn.execute(select(orders))}


def test_first_pull_stores_every_order_and_later_pulls_skip_unchanged(sandbox, store):
    c = cfg(sandbox)
    first = pull(store, c)
    expected = len(sandbox.state.stores["store1"])
    assert expected > 1000 and first.pages == 2  # two pages of up to 1000
    assert first.orders == expected and first.skipped == 0
    rows = stored(store)
    assert len(rows) == expected and all(r.source == "mailchimp" for r in rows.values())
    assert any(r.country for r in rows.values())
    second = pull(store, c)
    assert second.pages == 2 and second.orders < 10  # only the look-back window is rewritten
    assert len(stored(store)) == expected


def test_edits_and_refunds_update_in_place(sandbox, store):
    c = cfg(sandbox)
    pull(store, c)
    order_id = next(iter(sandbox.state.stores["store1"]))
    sandbox.clock = lambda: T + timedelta(hours=2)
    sandbox.edit_store_order("store1", order_id, financial_status="refunded")
    again = pull(store, c)
    assert again.orders >= 1
    row = stored(store)[order_id]
    assert row.status == "refunded" and row.refunded_e4 == row.total_e4
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(orders)).scalar() == len(
            sandbox.state.stores["store1"]
        )


def test_malformed_orders_are_reported_by_id_and_skipped(sandbox, store):
    first_id, second_id = list(sandbox.state.stores["store1"])[:2]
    sandbox.edit_store_order("store1", first_id, financial_status="weird")
    sandbox.edit_store_order("store1", second_id, customer={"id": "x", "email_address": "not-an-email"})
    summary = pull(store, cfg(sandbox))
    assert summary.skipped == 2
    assert f"order {first_id}: financial_status 'weird' is not mapped" in summary.problems[0]
    assert "not-an-email" not in " ".join(summary.problems)
    assert first_id not in stored(store) and second_id not in stored(store)


def test_a_pull_killed_after_a_page_resumes_and_never_double_counts(sandbox, store, monkeypatch):
    c = cfg(sandbox)
    import segmail.jobs.pull as job  # the one pull loop writes every page

    real = job.write_records
    calls = []

    def dying(conn, records, **kw):
        real(conn, records, **kw)
        calls.append(len(records))
        if len(calls) == 1:
            raise KeyboardInterrupt  # killed while the first page's transaction is open: nothing kept

    monkeypatch.setattr(job, "write_records", dying)
    with pytest.raises(KeyboardInterrupt):
        pull(store, c)
    monkeypatch.setattr(job, "write_records", real)
    assert stored(store) == {}
    pull(store, c)
    assert len(stored(store)) == len(sandbox.state.stores["store1"])


def test_bad_key_is_one_error_and_nothing_is_written(sandbox, store):
    with pytest.raises(ConfigurationError, match="HTTP 401"):
        pull(store, cfg(sandbox), env={"MAILCHIMP_API_KEY": "ffffffffffffffffffffffffffffffff-us6"})
    assert stored(store) == {}
    with pytest.raises(WiringError, match="MAILCHIMP_API_KEY"):
        open_shop(cfg(sandbox), {})
