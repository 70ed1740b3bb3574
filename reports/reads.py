"""Which reads a sent campaign needs this sync, decided from Mailchimp's report figures alone.

A campaign is read again only when a figure moved since its last complete read: its opens, clicks or
bounces (email-activity, from shortly before that read), its unsubscribes (`/unsubscribed`, which has
no `since` and is read whole), its proxy opens (open-details, for the `is_proxy_open` flags); a list
whose count is zero is never asked for. A campaign
never read is read from shortly before its send time, and not at all while every figure is zero. The
sync asks for the figures of campaigns sent within the engagement window only, so a finished
campaign is never read again (README "Reports").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from segmail.connector.mailchimp_reports import CampaignReport
from segmail.store.campaign_results import StoredCampaign
from segmail.store.codec import from_us


@dataclass(frozen=True, slots=True, kw_only=True)
class Reads:
    """What to read of one campaign; `since` bounds email-activity and open-details (None: from the start)."""

    report: CampaignReport
    activity: bool
    unsubscribes: bool
    proxy_opens: bool
    since: datetime | None

    @property
    def any(self) -> bool:
        return self.activity or self.unsubscribes or self.proxy_opens


def plan_reads(report: CampaignReport, stored: StoredCampaign | None, *, lookback: timedelta) -> Reads:
    """The reads that bring the store level with `report` and nothing more (the request floor)."""
    if stored is None:
        before = (0, 0, 0)
        unsubscribed = proxy = 0
        last_read = None
    else:
        before = (stored.opens_total, stored.clicks_total, stored.bounces)
        unsubscribed, proxy = stored.unsubscribed, stored.proxy_opens
        last_read = from_us(stored.activity_read_at)
    start = last_read if last_read is not None else report.send_time
    return Reads(
        report=report,
        activity=report.activity != before,
        unsubscribes=report.unsubscribed != unsubscribed and report.unsubscribed > 0,
        proxy_opens=report.proxy_opens != proxy and report.proxy_opens > 0,
        since=None if start is None else start - lookback,
    )


def changed(report: CampaignReport, stored: StoredCampaign | None) -> bool:
    """Whether the stored row falls behind `report` (a new campaign always does)."""
    if stored is None:
        return True
    figures = (report.emails_sent, report.opens_total, report.proxy_opens, report.clicks_total,
               report.bounces, report.unsubscribed)  # fmt: skip
    return figures != (stored.recipients, stored.opens_total, stored.proxy_opens, stored.clicks_total,
                       stored.bounces, stored.unsubscribed)  # fmt: skip
