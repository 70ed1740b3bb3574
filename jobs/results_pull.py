"""The sync's campaign pull: every sent campaign's figures, target and per-recipient activity.

One pass per sync (the `pull engagement` step): the report figures of every campaign sent within the
engagement window (every campaign, the first time) in one request per 1,000 campaigns; the target of
each campaign seen for the first time; and, only for campaigns whose figures moved since their last
read (reports/reads.py), their email activity (opens and clicks become the engagement events the
segments read; bounces are kept per recipient), unsubscribes and proxy-flagged opens. Campaigns are
read concurrently within `[mailchimp] max_connections`, through the one client and its retries, and
each is stored in one transaction with its new figures, so a killed pull reads again only the
campaigns it had not stored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from segmail.connector.mailchimp import MailchimpApi
from segmail.connector.mailchimp_reports import (
    CampaignReport,
    CampaignTarget,
    MailchimpReports,
    RecipientActivity,
)
from segmail.connector.records import Event
from segmail.jobs.config import AppConfig
from segmail.jobs.stopping import StopCheck, bounded_map, check, never
from segmail.reports import targets
from segmail.reports.reads import Reads, changed, plan_reads
from segmail.segments import windows
from segmail.store import cursors
from segmail.store.campaign_results import (
    StoredCampaign,
    bucket_campaigns,
    save_campaign,
    stored_campaigns,
    write_activity,
)
from segmail.store.codec import to_us
from segmail.store.db import Store
from segmail.store.suppression import unsuppressed
from segmail.store.writer import write_records

log = logging.getLogger("segmail.sync")
SOURCE = "mailchimp"


@dataclass
class ResultsSummary:
    campaigns: int = 0  # campaign reports listed (every audience's, within the window)
    read: int = 0  # campaigns whose activity, unsubscribes or proxy opens were read
    new: int = 0  # campaigns seen for the first time
    events: int = 0  # opens and clicks stored
    suppressed: int = (
        0  # opens, clicks and recipient activity of erased people, dropped (store/suppression.py)
    )
    recipient_activity: dict[str, int] = field(default_factory=dict)  # bounces, unsubscribes, proxy opens


@dataclass
class _Batch:
    events: list[Event] = field(default_factory=list)
    activity: list[RecipientActivity] = field(default_factory=list)


def engagement_window_days(config: AppConfig) -> float:
    """`mailchimp.engagement_window_days`, else the longest window the enabled rules look back over."""
    if config.mailchimp.engagement_window_days is not None:
        return config.mailchimp.engagement_window_days
    return windows.engagement_window_days(config.enabled_segments)


def pull_results(
    store: Store, config: AppConfig, api: MailchimpApi, *, now: datetime, stop: StopCheck = never
) -> ResultsSummary:
    mc = config.mailchimp
    stream = f"reports:{mc.list_id}"
    reader = MailchimpReports(api)
    with store.engine.begin() as conn:
        listed = cursors.get_cursor(conn, SOURCE, stream)
        stored = stored_campaigns(conn)
    window = timedelta(days=engagement_window_days(config) + mc.engagement_margin_days)
    reports = list(reader.reports(since_send_time=None if listed is None else now - window))
    new = [r for r in reports if r.id not in stored]
    placed = _targets(store, config, reader, [r for r in new if r.list_id == mc.list_id])
    lookback = timedelta(minutes=mc.lookback_minutes)
    plans = [
        plan_reads(r, stored.get(r.id), lookback=lookback) for r in reports if changed(r, stored.get(r.id))
    ]
    summary = ResultsSummary(campaigns=len(reports), new=len(new))

    def read(plan: Reads) -> _Batch:
        return _read(reader, plan)

    for plan, batch in bounded_map(read, plans, workers=mc.max_connections, stop=stop):
        report = plan.report
        with store.engine.begin() as conn:  # the campaign's activity and the figures it brings level
            written = write_records(conn, batch.events, source=SOURCE, now_us=to_us(now))
            activity = unsuppressed(conn, batch.activity)
            write_activity(conn, report.id, activity)
            save_campaign(conn, _row(report, stored.get(report.id), placed.get(report.id), plan, now))
        summary.read += plan.any
        summary.events += len(batch.events) - written.suppressed
        summary.suppressed += written.suppressed + len(batch.activity) - len(activity)
        for a in activity:
            summary.recipient_activity[a.kind] = summary.recipient_activity.get(a.kind, 0) + 1
    check(stop)  # the listing counts as complete only once every campaign of it is stored
    with store.engine.begin() as conn:
        cursors.set_cursor(conn, SOURCE, stream, now.isoformat(), now_us=to_us(now))
    log.info(
        "campaign results: %d report(s) listed, %d new, %d read, %d events", summary.campaigns, summary.new,
        summary.read, summary.events,
    )  # fmt: skip
    return summary


def _read(reader: MailchimpReports, plan: Reads) -> _Batch:
    batch = _Batch()
    campaign_id = plan.report.id
    if plan.activity:
        for events, other in reader.email_activity(campaign_id, since=plan.since):
            batch.events += events
            batch.activity += other
    if plan.unsubscribes:
        for page in reader.unsubscribes(campaign_id):
            batch.activity += page
    if plan.proxy_opens:
        for page in reader.proxy_opens(campaign_id, since=plan.since):
            batch.activity += page
    return batch


def _targets(
    store: Store, config: AppConfig, reader: MailchimpReports, new: list[CampaignReport]
) -> dict[str, targets.Target]:
    """Where each campaign of the audience seen for the first time was sent; no request when none is
    new, one for a single campaign, one page per 1,000 otherwise, and the tags only when needed."""
    with store.engine.begin() as conn:
        buckets = bucket_campaigns(conn, [r.id for r in new])
    segment_of = {name: c.segment for name, c in config.campaigns.items()}
    placed = {mc_id: targets.bucket_target(name, segment_of) for mc_id, name in buckets.items()}
    others = [r for r in new if r.id not in buckets]
    if not others:
        return placed
    found: dict[str, CampaignTarget] = {}
    if len(others) > 1:
        oldest = min((r.send_time for r in others if r.send_time is not None), default=None)
        if oldest is not None:
            wanted = {r.id for r in others}
            since = oldest - timedelta(seconds=1)  # `since_send_time` is strictly after
            found = {
                t.id: t
                for t in reader.targets(config.mailchimp.list_id, since_send_time=since)
                if t.id in wanted
            }
    for r in others:
        if r.id not in found:
            found[r.id] = reader.target(r.id)
    tag_ids: dict[int, str] = {}
    if any(targets.needs_tag_ids(t) for t in found.values()):
        existing = reader.api.static_segments(config.mailchimp.list_id)
        tag_ids = {existing[d.tag]: d.name for d in config.segment_defs.values() if d.tag in existing}
    placed |= {mc_id: targets.tag_target(t, tag_ids) for mc_id, t in found.items()}
    return placed


def _row(
    report: CampaignReport,
    before: StoredCampaign | None,
    target: targets.Target | None,
    plan: Reads,
    now: datetime,
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "mc_campaign_id": report.id,
        "list_id": report.list_id,
        "title": report.title,
        "sent_at": None if report.send_time is None else to_us(report.send_time),
        "recipients": report.emails_sent,
        "opens_total": report.opens_total,
        "proxy_opens": report.proxy_opens,
        "unique_opens": report.unique_opens,
        "clicks_total": report.clicks_total,
        "unique_clicks": report.unique_clicks,
        "unsubscribed": report.unsubscribed,
        "bounces": report.bounces,
        "activity_read_at": to_us(now) if plan.activity else (before.activity_read_at if before else None),
        "updated_at": to_us(now),
    }
    if target is not None:  # set once, when the campaign is first seen
        row |= {"target": target.kind, "campaign": target.campaign, "segment": target.segment}
    return row
