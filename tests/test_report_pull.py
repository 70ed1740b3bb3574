"""The sync's campaign results pull against the spec-checked Mailchimp sandbox: targets, per-recipient
results, incremental re-reads, and requests at the floor (every exchange is validated against the spec)."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from segmail.jobs import report
from segmail.jobs.results_pull import pull_results
from segmail.jobs.wiring import open_mailchimp
from segmail.reports.periods import Period
from segmail.store.codec import to_us
from segmail.store.schema import campaign_activity, campaign_results, events, send_buckets
from tests.conftest import T
from tests.mailchimp_fixture import Clock, checked_sandbox
from tests.shop import Shop, config

KEY = "0123456789abcdef0123456789abcdef-us6"
SENT = T - timedelta(days=3)


@pytest.fixture
def clock():
    return Clock(SENT)


@pytest.fixture
def sandbox(clock):
    with checked_sandbox(api_key=KEY, clock=clock) as box:
        box.add_list("list2", "another audience")
        yield box


def cfg(sandbox, **mailchimp):
    return config(
        mailchimp={"list_id": "list1", "api_url": sandbox.base_url, **mailchimp},
        campaigns={"vip_early": {"segment": "vip", "template": "vip_early_access.html", "subject": "Hi",
                                 "from_name": "Shop", "reply_to": "shop@example.com", "local_time": "10:00",
                                 "trigger": "at", "date": "2026-06-12"}},
        send={"shop_name": "Shop", "shop_address": "1 Main St, Berlin", "shop_url": "https://shop.example"},
    )  # fmt: skip


def pull(store, c, now):
    api = open_mailchimp(c, env={"MAILCHIMP_API_KEY": KEY}, sleep=lambda _s: None)
    try:
        return pull_results(store, c, api, now=now)
    finally:
        api.close()


def seed(sandbox, store):
    """Five campaigns: a segmail bucket, two Mailchimp campaigns to the vip tag (saved segment, condition),
    one to the whole audience, and one to another audience."""
    sandbox.load_audience("list1", contacts=1200, seed=4, as_of=SENT)
    sandbox.add_member("list2", "elsewhere@example.com")
    lst = sandbox.state.lists["list1"]
    emails = [m.email for m in lst.members.values() if m.status == "subscribed"]
    sandbox.create_tag("list1", "segmail:vip", emails[:400])
    sandbox.create_tag("list1", "bucket-1", emails[400:700])  # a send bucket's own static segment
    ids = {
        "bucket": sandbox.send_campaign("list1", at=SENT, title="segmail vip_early 1", segment="bucket-1"),
        "saved": sandbox.send_campaign("list1", at=SENT, title="vip offer", segment="segmail:vip"),
        "condition": sandbox.send_campaign(
            "list1", at=SENT, title="vip by tag", segment="segmail:vip", by_condition=True
        ),
        "all": sandbox.send_campaign("list1", at=SENT, title="newsletter"),
        "elsewhere": sandbox.send_campaign("list2", at=SENT, title="other list"),
    }
    for n, cid in enumerate(ids.values()):
        sandbox.simulate_engagement(cid, seed=n, open_rate=0.4, click_rate=0.1, bounce_rate=0.02,
                                    proxy_rate=0.3, unsubscribe_rate=0.01)  # fmt: skip
    with store.engine.begin() as conn:
        conn.execute(send_buckets.insert().values(
            bucket_id="vip_early-x-1", campaign="vip_early", slot_at=to_us(SENT), send_at=to_us(SENT), variant="{}",
            recipients=300, status="sent", segment_id=1, mc_campaign_id=ids["bucket"], title="segmail vip_early 1",
            created_at=to_us(SENT), updated_at=to_us(SENT),
        ))  # fmt: skip
    return ids


def truth(sandbox, cid):
    c = sandbox.state.campaigns[cid]
    acts = c.activity.values()
    return {
        "events": sum(1 for a in acts for x in a if x.action in ("open", "click")),
        "opens": sum(1 for a in acts if any(x.action == "open" and not x.proxy for x in a)),
        "proxy_opens": sum(
            1
            for a in acts
            if any(x.action == "open" for x in a) and all(x.proxy for x in a if x.action == "open")
        ),
        "clicks": sum(1 for a in acts if any(x.action == "click" for x in a)),
        "bounces": sum(1 for a in acts if any(x.action == "bounce" for x in a)),
        "unsubscribes": len(c.unsubscribes),
        "active": sum(1 for a in acts if a),
        "openers": sum(1 for a in acts if any(x.action == "open" for x in a)),
        "recipients": len(c.recipients),
    }


def paths(sandbox, since=0):
    out = []
    for e in list(sandbox.requests_log)[since:]:
        parts = e.path.split("/")[2:]  # after /3.0
        out.append("/".join("{id}" if i == 1 and parts[0] in ("reports", "campaigns", "lists") else p
                            for i, p in enumerate(parts)))  # fmt: skip
    return sorted(out)


def test_first_pull_stores_targets_and_results_at_the_request_floor(sandbox, store, clock):
    ids = seed(sandbox, store)
    c = cfg(sandbox)
    now = clock.now = SENT + timedelta(days=2)
    summary = pull(store, c, now)
    facts = {name: truth(sandbox, i) for name, i in ids.items()}
    active = sum(1 for f in facts.values() if f["active"] or f["unsubscribes"])  # a silent one needs no read
    assert (summary.campaigns, summary.new, summary.read) == (5, 5, active) and active >= 4
    with store.engine.connect() as conn:
        rows = {r.mc_campaign_id: r for r in conn.execute(select(campaign_results))}
    placed = {name: (rows[i].target, rows[i].campaign, rows[i].segment) for name, i in ids.items()}
    assert placed == {
        "bucket": ("segmail", "vip_early", "vip"),
        "saved": ("tag", None, "vip"),
        "condition": ("tag", None, "vip"),
        "all": ("other", None, None),
        "elsewhere": (None, None, None),  # another audience: engagement only, no target
    }
    assert rows[ids["saved"]].recipients == facts["saved"]["recipients"] == 400
    # the floor: one page of reports; the targets of the 3 new non-bucket campaigns of the audience in one
    # list page; the tags once; per campaign the activity, unsubscribes and open-details pages it has
    floor = ["reports", "campaigns", "lists/{id}/segments"]
    for f in facts.values():
        floor += ["reports/{id}/email-activity"] * math.ceil(f["active"] / 1000)
        floor += ["reports/{id}/unsubscribed"] * math.ceil(f["unsubscribes"] / 1000)
        floor += ["reports/{id}/open-details"] * math.ceil(f["openers"] / 1000)
    assert paths(sandbox) == sorted(floor)
    with store.engine.connect() as conn:
        stored_events = conn.execute(select(func.count()).select_from(events)).scalar()
        kinds = dict(
            conn.execute(
                select(campaign_activity.c.kind, func.count()).group_by(campaign_activity.c.kind)
            ).all()
        )
    assert stored_events == sum(f["events"] for f in facts.values())
    assert kinds["bounce"] == sum(f["bounces"] for f in facts.values())
    assert kinds["unsubscribe"] == sum(f["unsubscribes"] for f in facts.values()) > 0
    # the report's per-recipient figures are the sandbox's own
    result = report.campaign_report(store, c, Period(SENT - timedelta(days=1), SENT + timedelta(days=1)))
    by_id = {r.campaign_id: r for r in result.rows}
    assert set(by_id) == {"vip_early", ids["saved"], ids["condition"], ids["all"]}
    for name, key in (("bucket", "vip_early"), ("saved", ids["saved"]), ("all", ids["all"])):
        row, f = by_id[key], facts[name]
        got = (row.opens, row.proxy_opens, row.clicks, row.bounces, row.unsubscribes, row.recipients)
        assert got == (
            f["opens"],
            f["proxy_opens"],
            f["clicks"],
            f["bounces"],
            f["unsubscribes"],
            f["recipients"],
        )
    assert by_id["vip_early"].proxy_opens > 0 and by_id["vip_early"].title == "vip_early"


def test_later_pulls_read_only_what_moved(sandbox, store, clock):
    ids = seed(sandbox, store)
    c = cfg(sandbox)
    pull(store, c, SENT + timedelta(days=2))
    mark = len(sandbox.requests_log)
    again = pull(store, c, SENT + timedelta(days=2, minutes=15))
    assert paths(sandbox, mark) == ["reports"] and (again.read, again.new, again.events) == (0, 0, 0)
    # new activity on one campaign: only that one is read, from shortly before the last read
    sandbox.simulate_engagement(ids["saved"], seed=99, open_rate=0.6, click_rate=0.3)
    mark = len(sandbox.requests_log)
    third = pull(store, c, SENT + timedelta(days=2, minutes=30))
    assert third.read == 1
    # a new draw without proxy opens or unsubscribes: their lists, now empty, are not asked for
    assert paths(sandbox, mark) == ["reports", "reports/{id}/email-activity"]
    activity = [e for e in list(sandbox.requests_log)[mark:] if e.path.endswith("/email-activity")]
    assert "since=2026-06-14T11%3A50%3A00%2B00%3A00" in activity[0].query  # the last read less 10 minutes
    # a campaign past the engagement window is no longer asked for
    mark = len(sandbox.requests_log)
    pull(store, c, SENT + timedelta(days=400))
    entry = list(sandbox.requests_log)[mark]
    assert entry.path.endswith("/reports") and "since_send_time=" in entry.query


def test_a_killed_pull_reads_only_the_campaigns_it_had_not_stored(sandbox, store, clock):
    seed(sandbox, store)
    c = cfg(sandbox, max_connections=1)
    from segmail.jobs.stopping import Interrupted

    calls = {"n": 0}

    def stop_after_two():
        calls["n"] += 1
        return calls["n"] > 2

    with pytest.raises(Interrupted):
        api = open_mailchimp(c, env={"MAILCHIMP_API_KEY": KEY}, sleep=lambda _s: None)
        try:
            pull_results(store, c, api, now=SENT + timedelta(days=2), stop=stop_after_two)
        finally:
            api.close()
    with store.engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(campaign_results)).scalar()
    assert 0 < stored < 5
    summary = pull(store, c, SENT + timedelta(days=2))
    assert summary.new == 5 - stored


def test_the_last_campaign_is_a_set_of_gauges(sandbox, store, clock):
    from prometheus_client.parser import text_string_to_metric_families

    from segmail.jobs.health import Counters, metrics_registry, metrics_text, snapshot

    seed(sandbox, store)
    later = sandbox.send_campaign(
        "list1", at=SENT + timedelta(hours=1), title="the last one", segment="segmail:vip"
    )
    sandbox.simulate_engagement(later, seed=5, open_rate=0.5, click_rate=0.2, bounce_rate=0.05, proxy_rate=0.5,
                                unsubscribe_rate=0.02)  # fmt: skip
    c = config(mailchimp={"list_id": "list1", "api_url": sandbox.base_url}, shop={"currency": "EUR"})
    assert snapshot(store, c)["last_campaign"] is None  # nothing pulled yet: no gauge at all
    lst = sandbox.state.lists["list1"]
    member, click = next((m, x) for m, a in sandbox.state.campaigns[later].activity.items() for x in a
                         if x.action == "click")  # fmt: skip
    shop = Shop(store)
    shop.order(lst.members[member].email.lower(), click.timestamp, "25.00")  # at the click's instant
    shop.flush(SENT)
    pull(store, c, SENT + timedelta(days=2))
    snap = snapshot(store, c)
    text = metrics_text(metrics_registry(lambda: (snap, Counters(), "active")))
    values = {(s.name, tuple(sorted(s.labels.items()))): s.value
              for f in text_string_to_metric_families(text) for s in f.samples}  # fmt: skip
    labels = (("campaign", later), ("segment", "vip"))
    acts = sandbox.state.campaigns[later].activity.values()
    expected = {
        "recipients": len(sandbox.state.campaigns[later].recipients),
        "opens": sum(1 for a in acts if any(x.action == "open" for x in a)),
        "proxy_opens": sum(1 for a in acts for x in a if x.action == "open" and x.proxy),
        "clicks": sum(1 for a in acts if any(x.action == "click" for x in a)),
        "bounces": sum(1 for a in acts if any(x.action == "bounce" for x in a)),
        "unsubscribes": len(sandbox.state.campaigns[later].unsubscribes),
        "attributed_orders": 1,
    }
    got = {key: values[(f"segmail_last_campaign_{key}", labels)] for key in expected}
    assert got == expected and expected["proxy_opens"] > 0 and expected["unsubscribes"] > 0
    assert (
        values[("segmail_last_campaign_sent_timestamp_seconds", labels)]
        == (SENT + timedelta(hours=1)).timestamp()
    )
    assert (
        values[("segmail_last_campaign_attributed_revenue", (*labels[:1], ("currency", "EUR"), *labels[1:]))]
        == 25.0
    )
