"""The overview's figures per segment in two passes (store.esp.segment_counts) are the stored counts
and the pending changes `pending_counts` gives segment by segment, which the sync pushes."""

from __future__ import annotations

from sqlalchemy import func, select, update

from segmail.jobs.compute import compute
from segmail.store import esp
from segmail.store.schema import contacts, esp_memberships, memberships
from tests.conftest import T
from tests.shop import Shop, config, days

CONFIG = config(shop={"currency": "EUR"})


def test_segment_counts_are_the_counts_and_pending_changes_of_each_segment(store):
    s = Shop(store)
    for i in range(16):
        who = s.contact(f"b{i}@example.com", opted_in_at=T - days(300 - i))
        for k in range(1 + i % 3):
            s.order(who, T - days(200 - 30 * k - i), total=f"{20 + 15 * i}.00")
    s.contact("new@example.com", opted_in_at=T - days(2))
    s.flush(T)
    compute(store, CONFIG, as_of=T, now=T)
    with store.engine.begin() as conn:
        rows = conn.execute(select(memberships.c.segment, memberships.c.email_key)).all()
        assert rows
        seen = sorted({k for _, k in rows})[::2]  # half the contacts are in the audience
        conn.execute(update(contacts).where(contacts.c.email_key.in_(seen)).values(mc_seen_at=1))
        for n, (segment, key) in enumerate(rows):
            if n % 3 == 0:  # a third confirmed; the others still to add (or not in the audience)
                esp.confirm(conn, segment, added=[key], removed=[], refused={}, now_us=1)
        esp.confirm(
            conn, "vip", added=["b1@example.com", "gone@example.com"], removed=[], refused={}, now_us=1
        )
        esp.confirm(conn, "retired", added=["b2@example.com"], removed=[], refused={}, now_us=1)
    with store.engine.connect() as conn:
        got = esp.segment_counts(conn)
        names = set(CONFIG.segment_defs) | {"retired"}
        for name in names:
            members = conn.execute(select(func.count()).where(memberships.c.segment == name)).scalar_one()
            tagged = conn.execute(select(func.count()).where(esp_memberships.c.segment == name)).scalar_one()
            want = esp.SegmentCounts(members, tagged, esp.pending_counts(conn, name))
            assert got.get(name, esp.SegmentCounts(0, 0, esp.PendingCounts(0, 0, 0))) == want, name
        assert got["retired"].pending.to_remove == 1
        assert any(c.pending.to_add and c.pending.not_in_audience for c in got.values())
