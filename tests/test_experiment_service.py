"""Holdouts and A/B variants through `segmail run` processes: kill -9 mid-send, a standby takes over.

The same scenario as test_service's kill -9 test, with a campaign that holds out 30 % and splits the
rest between two subjects: after the active instance is killed between creating and scheduling a
Mailchimp campaign and the standby finishes the send, every recipient not held out got exactly one mail,
with their variant's subject; no held-out recipient got one or sits in a static segment; the ledger
holds each recipient once, the held-out ones as `holdout`.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from bench.service_harness import KEY, ServiceProcess, scalar, wait_for, write_config
from segmail.sandbox.faults import Faults
from segmail.sending.assign import draw, held_out
from segmail.store.db import open_store
from tests.mailchimp_fixture import checked_sandbox
from tests.shop import Shop

pytestmark = pytest.mark.slow  # two `segmail run` processes

SUBJECTS = {"a": "Early access A", "b": "Early access B"}


@pytest.fixture
def sandbox():
    with checked_sandbox(api_key=KEY) as box:  # the service reads the real clock, so does the sandbox
        yield box


def test_holdouts_and_variants_survive_a_kill_9_and_a_second_instance(sandbox, store_url, tmp_path):
    now = datetime.now(UTC)
    slot = (now + timedelta(minutes=75)).replace(second=0, microsecond=0)
    slot -= timedelta(minutes=slot.minute % 15)
    emails = [f"buyer{i:02d}@x.io" for i in range(30)]
    store = open_store(store_url)
    shop = Shop(store)
    for email in emails:
        sandbox.add_member("list1", email, timezone="UTC", country_code="DE", language="en")
        shop.contact(email)
        shop.order(email, now - timedelta(days=3), "40.00")
    shop.flush(now)
    store.dispose()
    # Mailchimp is slow to answer `actions/schedule`: the kill lands between creating and scheduling
    sandbox.faults = Faults(latency_ms=4000, exempt_paths=(
        "/ping", "/lists*", "/reports*", "/campaigns", "/campaigns/*/content", "/campaigns/??????????",
    ))  # fmt: skip
    day = slot.date().isoformat()
    config = write_config(
        tmp_path / "segmail.toml", store_url=store_url, api_url=sandbox.base_url, port=None,
        segments={"vip": {"rule": "orders_count >= 1"}},
        send={"shop_name": "Boots", "shop_address": "Boots, 1 Main St, Berlin", "shop_url": "https://boots.example",
              "lead": "2h", "quiet_hours": ""},
        campaigns={"promo": {
            "segment": "vip", "template": "vip_early_access.html", "subject": "Early access", "from_name": "Boots",
            "reply_to": "hi@boots.example", "local_time": slot.strftime("%H:%M"), "trigger": "at", "date": day,
            "holdout_percent": 30}},
    )  # fmt: skip
    with config.open("a") as f:  # arrays of tables, which the harness does not write
        for name, subject in SUBJECTS.items():
            f.write(f'[[campaigns.promo.variants]]\nname = "{name}"\nsubject = "{subject}"\n')
    held = {e for e in emails if held_out(draw("promo", day, e), 30)}
    assert 0 < len(held) < len(emails)
    first = ServiceProcess(config)
    second = None
    try:
        wait_for(
            lambda: scalar(store_url, "SELECT count(*) FROM service_instances WHERE role = 'active'"),
            what="an active instance",
        )
        second = ServiceProcess(config)
        wait_for(lambda: second.logged("standby:"), what="the second instance on standby")
        wait_for(
            lambda: scalar(store_url, "SELECT count(*) FROM send_buckets WHERE mc_campaign_id IS NOT NULL AND status = 'planned'"),
            what="a campaign created but not yet scheduled",
        )  # fmt: skip
        first.kill()
        wait_for(lambda: second.logged("active:"), what="the standby taking over", timeout=30)
        wait_for(
            lambda: scalar(store_url, "SELECT count(*) FROM send_buckets WHERE status <> 'scheduled'") == 0
            and scalar(store_url, "SELECT count(*) FROM send_buckets") > 0,
            what="every bucket scheduled", timeout=90,
        )  # fmt: skip
    finally:
        first.kill()
        if second is not None:
            assert second.stop() == 0, second.text()
    ours = [c for c in sandbox.state.campaigns.values() if c.settings.get("title", "").startswith("segmail ")]
    assert len(ours) == scalar(store_url, "SELECT count(*) FROM send_buckets") == 2  # one per variant
    assert {c.settings["subject_line"] for c in ours} == set(SUBJECTS.values())
    sandbox.state.advance(slot + timedelta(hours=1))
    subject_of = {c.id: c.settings["subject_line"] for c in ours}
    mails = Counter((email, subject_of[cid]) for cid, email, _ in sandbox.state.deliveries)
    assert {e for e, _ in mails} == set(emails) - held and set(mails.values()) == {1}
    assert len({e for e, _ in mails}) == len(mails)  # one subject each
    lst = sandbox.state.lists["list1"]
    sends = [seg for seg in lst.segments.values() if seg.name.startswith("segmail send ")]  # not the tags
    assert len(sends) == 2 and not held & {lst.members[h].email for seg in sends for h in seg.members}
    assert scalar(store_url, "SELECT count(*) FROM send_ledger WHERE status = 'holdout'") == len(held)
    assert scalar(store_url, "SELECT count(*) FROM send_ledger") == len(emails)
    by_variant = {
        v: scalar(
            store_url, f"SELECT count(*) FROM send_ledger WHERE status = 'scheduled' AND variant = '{v}'"
        )
        for v in SUBJECTS
    }
    assert by_variant == {v: sum(1 for (_, s) in mails if s == SUBJECTS[v]) for v in SUBJECTS}
