"""Unsent errors: a planned recipient left without the mail for no documented rule is counted per
campaign and reason and shown by `segmail status`, `/healthz` and `/metrics`, never only logged."""

from __future__ import annotations

import argparse
import io
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import select, text

from segmail.jobs.cli.context import Context
from segmail.jobs.cli.send import cmd_send_unsent
from segmail.jobs.health import Counters, health, metrics_registry, metrics_text, snapshot
from segmail.jobs.send import SlotResult
from segmail.jobs.status import print_status, status_report
from segmail.sending.plan import PlannedSend
from segmail.sending.slot import plan_slot
from segmail.sending.unsent import documented
from segmail.store import instances, ledger
from segmail.store.codec import to_us
from segmail.store.db import MIGRATIONS, open_store, set_meta
from segmail.store.schema import send_buckets, send_ledger, send_unsent
from tests.test_send import NOW, SHOPPING, VIP, cfg, deliver_all, jobs_of, sender_for, setup

BERLIN_SLOT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def unsent_rows(store):
    with store.engine.begin() as conn:
        return [
            dict(r) for r in conn.execute(select(send_unsent).order_by(send_unsent.c.email_key)).mappings()
        ]


def shown_everywhere(store, c, now):
    """What /healthz, /metrics and `segmail status` (text and JSON) say, from one snapshot."""
    snap = snapshot(store)
    code, body = health(snap, role="active", now=now, sync_every=timedelta(minutes=15), started_at=now)
    with store.engine.begin() as conn:  # a live active instance, so status reports its health
        instances.beat(conn, instance_id="i1", host="h", pid=1, role="active", started_us=to_us(now),
                       now_us=to_us(now), version="test")  # fmt: skip
    report = status_report(store, c, now=now)
    console = Console(file=io.StringIO(), width=200)
    print_status(report, console)
    return (
        code,
        body,
        metrics_text(metrics_registry(lambda: (snap, Counters(), "active"))),
        report,
        console.file.getvalue(),
    )


def test_documented_skip_reasons():
    assert all(documented(r) for r in ("frequency_cap", "late", "status unsubscribed", "status cleaned"))
    assert not any(documented(r) for r in ("", "status ", "quota", "bucket_not_created"))


def test_a_bucket_that_cannot_be_written_is_shown_until_the_recipient_is_bucketed(sandbox, store, clock):
    """The old collision: another campaign's bucket holds the id this bucket needs."""
    c = cfg(sandbox, {"vip_early": VIP})
    api = setup(sandbox, store, c, members=SHOPPING[1:2])  # Berlin
    sender = sender_for(store, c, api, clock)
    (planned,) = sender.plan(c.campaigns["vip_early"], now=NOW, since_us=None)
    taken = f"vip_early-{planned.bucket_key}-0"
    with store.engine.begin() as conn:
        conn.execute(send_buckets.insert().values(
            bucket_id=taken, campaign="other", slot_at=0, send_at=0, variant="{}", recipients=0,
            status="scheduled", title="other", created_at=0, updated_at=0))  # fmt: skip
    ((campaign, slot, run_at),) = jobs_of(sender, clock)
    clock.now = run_at
    result = sender.run_slot(campaign, slot)
    assert (result.buckets, result.unsent) == (0, 1)
    (row,) = unsent_rows(store)
    assert (row["campaign"], row["email_key"], row["reason"]) == (
        "vip_early",
        "berlin@x.io",
        "bucket_not_created",
    )
    assert row["slot_at"] == to_us(BERLIN_SLOT)

    code, body, metrics, report, shown = shown_everywhere(store, c, clock.now)
    assert code == 200 and body["status"] == "degraded"
    assert body["unsent"] == [{"campaign": "vip_early", "reason": "bucket_not_created", "recipients": 1,
                               "last_recorded_at": run_at.isoformat()}]  # fmt: skip
    assert 'segmail_send_unsent_recipients{campaign="vip_early",reason="bucket_not_created"} 1.0\n' in metrics
    assert report["health"]["status"] == "degraded" and report["send_unsent"] == body["unsent"]
    assert "health: degraded" in shown and "unsent errors" in shown and "bucket_not_created" in shown

    with store.engine.begin() as conn:  # the obstacle goes; the next cycle re-plans the slot in time
        conn.execute(send_buckets.delete().where(send_buckets.c.bucket_id == taken))
    clock.now = run_at + timedelta(minutes=5)
    ((campaign, slot, _),) = jobs_of(sender, clock)
    assert sender.run_slot(campaign, slot).buckets == 1
    assert unsent_rows(store) == []
    code, body, metrics, _, _ = shown_everywhere(store, c, clock.now)
    assert body["status"] == "ok" and "unsent" not in body
    assert "segmail_send_unsent_recipients{" not in metrics
    deliver_all(sandbox, clock, datetime(2026, 12, 2, tzinfo=UTC))
    assert [e for _, e, _ in sandbox.state.deliveries] == ["berlin@x.io"]


def test_a_template_error_at_send_time_is_recorded_and_acknowledged(sandbox, store, clock, tmp_path, capsys):
    folder = tmp_path / "templates"
    shutil.copytree(Path(__file__).resolve().parents[1] / "templates", folder)
    (folder / "broken.html").write_text(
        '{% extends "base.html" %}{% block body %}{{ oops( }}{% endblock %}\n'
    )
    c = cfg(sandbox, {"vip_broken": {**VIP, "template": "broken.html"}}, send={"templates_dir": str(folder)})
    api = setup(sandbox, store, c, members=SHOPPING[:2])  # New York and Berlin: two slots
    sender = sender_for(store, c, api, clock)
    jobs = jobs_of(sender, clock)  # registered although the template is broken: the job records who is left
    assert sorted(slot for _, slot, _ in jobs) == [BERLIN_SLOT, datetime(2026, 12, 1, 15, 0, tzinfo=UTC)]
    clock.now = BERLIN_SLOT - timedelta(minutes=30)
    result = sender.run_slot("vip_broken", BERLIN_SLOT)
    assert "broken.html:1" in (result.failed or "") and result.unsent == 1
    (row,) = unsent_rows(store)
    assert (row["email_key"], row["reason"]) == ("berlin@x.io", "template_error")
    assert "broken.html:1" in row["detail"]
    _, body, metrics, _, _ = shown_everywhere(store, c, clock.now)
    assert body["unsent"][0]["reason"] == "template_error"
    assert 'segmail_send_unsent_recipients{campaign="vip_broken",reason="template_error"} 1.0\n' in metrics

    ctx = Context(c)
    ctx._store = store
    assert cmd_send_unsent(argparse.Namespace(campaign=None, clear=False), ctx) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "email,campaign,occurrence,reason,slot_utc,recorded_utc,detail"
    assert lines[1].startswith("berlin@x.io,vip_broken,2026-12-01,template_error,2026-12-01T09:00:00Z,")
    assert cmd_send_unsent(argparse.Namespace(campaign="vip_broken", clear=True), ctx) == 0
    assert "1 acknowledged and cleared" in capsys.readouterr().err
    assert unsent_rows(store) == []
    assert "unsent" not in shown_everywhere(store, c, clock.now)[1]
    assert sandbox.state.campaigns == {}


def test_a_campaign_deleted_in_mailchimp_leaves_its_recipients_unsent(sandbox, store, clock):
    c = cfg(sandbox, {"vip_early": VIP})
    api = setup(sandbox, store, c, members=SHOPPING[1:2])
    sender = sender_for(store, c, api, clock)
    ((campaign, slot, run_at),) = jobs_of(sender, clock)
    clock.now = run_at
    real = api.set_content
    api.set_content = lambda *a, **k: (_ for _ in ()).throw(RuntimeError("killed after the create"))
    with pytest.raises(RuntimeError):
        sender.run_slot(campaign, slot)
    api.set_content = real
    (mc_id,) = sandbox.state.campaigns
    sandbox.state.delete_campaign(sandbox.state.campaigns[mc_id])  # someone deletes the draft in Mailchimp
    sender.resume()
    with store.engine.begin() as conn:
        bucket = conn.execute(select(send_buckets)).mappings().one()
        (status,) = conn.execute(select(send_ledger.c.status)).scalars()
        recent = ledger.recent_mail_times(conn, start_us=0, end_us=to_us(NOW + timedelta(days=9)))
    assert bucket["status"] == "failed" and "deleted in Mailchimp" in bucket["error"]
    assert status == "unsent" and recent == {}  # a mail that never went out does not hold the frequency cap
    (row,) = unsent_rows(store)
    assert (row["reason"], row["bucket_id"]) == ("bucket_failed", bucket["bucket_id"])
    assert 'reason="bucket_failed"} 1.0\n' in shown_everywhere(store, c, clock.now)[2]


def test_a_skip_for_an_undocumented_reason_is_an_unsent_error(sandbox, store, clock):
    c = cfg(sandbox, {"vip_early": VIP})
    api = setup(sandbox, store, c, members=SHOPPING[1:2])
    sender = sender_for(store, c, api, clock)
    (p,) = sender.plan(c.campaigns["vip_early"], now=NOW, since_us=None)
    odd: PlannedSend = p._replace(send_at=None, action="skip", reason="quota")  # no planner rule says "quota"
    result = SlotResult(campaign="vip_early", job_slot=p.job_slot)
    sender.write_slot(plan_slot("vip_early", p.job_slot, [odd]), result)
    assert result.unsent == 1 and result.skipped == {"quota": 1}
    (row,) = unsent_rows(store)
    assert (row["reason"], row["detail"]) == ("undocumented_skip", "quota")


def test_an_old_store_resumes_its_in_flight_bucket_and_reports_its_failed_one(sandbox, store_url, clock):
    """A v3 store: bucket ids without the campaign; one bucket in flight (no Mailchimp call yet), one
    failed. The migration reports the failed one; the in-flight one goes out under its old id."""
    store = open_store(store_url)
    c = cfg(sandbox, {"vip_early": VIP})
    api = setup(sandbox, store, c, members=SHOPPING[:2])
    sender = sender_for(store, c, api, clock)
    sender._continue = lambda bucket_id: None  # killed before any Mailchimp call
    clock.now = BERLIN_SLOT - timedelta(minutes=30)
    for campaign, slot, _ in jobs_of(sender, clock):
        sender.run_slot(campaign, slot)
    with store.engine.begin() as conn:
        ids = {r.send_at: r.bucket_id for r in conn.execute(select(send_buckets))}
        for n, new_id in enumerate(ids[at] for at in sorted(ids)):  # Berlin (09:00Z), then New York
            old_id, status = (f"0c74da7ee74{n}-0", "planned" if n == 0 else "failed")
            title = f"segmail vip_early 2026-12-01 old [{old_id}]"
            conn.execute(text("UPDATE send_buckets SET bucket_id = :o, title = :t, status = :s, error = :e "
                              "WHERE bucket_id = :n"),
                         {"o": old_id, "t": title, "s": status, "n": new_id, "e": None if n == 0 else "refused"})  # fmt: skip
            conn.execute(
                text("UPDATE send_ledger SET bucket_id = :o WHERE bucket_id = :n"), {"o": old_id, "n": new_id}
            )
        conn.execute(text("DROP TABLE send_unsent"))
        conn.execute(text("DROP INDEX ix_features_spend"))  # v11's, on the column v5 adds
        conn.execute(text("ALTER TABLE features DROP COLUMN money_orders_count"))  # v5's
        for column in ("variant", "ab_phase"):  # v8's
            conn.execute(text(f"ALTER TABLE send_ledger DROP COLUMN {column}"))
        conn.execute(text("DROP TABLE ab_decisions"))
        set_meta(conn, "schema_version", 3)
    store.dispose()
    migrated = open_store(store_url)
    assert len(MIGRATIONS) == 10  # v3 → v4 → … → v11
    (row,) = unsent_rows(migrated)
    assert (row["email_key"], row["reason"], row["detail"]) == ("ny@x.io", "bucket_failed", "refused")
    sender = sender_for(migrated, c, api, clock)
    assert sender.resume() == 1  # the Berlin bucket, by its old id
    (mc,) = sandbox.state.campaigns.values()
    assert mc.settings["title"] == "segmail vip_early 2026-12-01 old [0c74da7ee740-0]"
    assert sandbox.state.lists["list1"].segments[mc.segment_id].name == "segmail send 0c74da7ee740-0"
    deliver_all(sandbox, clock, datetime(2026, 12, 2, tzinfo=UTC))
    assert [e for _, e, _ in sandbox.state.deliveries] == ["berlin@x.io"]
    migrated.dispose()
