"""Campaign results as the sync stores them: each campaign's figures and target, and per-recipient activity.

The figures stored with a campaign are Mailchimp's at its last complete read, which is what decides
whether the next sync reads it again (reports/reads.py). A campaign's activity, its events and its new
figures are written in one transaction, so a pull killed in the middle reads that campaign again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from segmail.connector.mailchimp_reports import RecipientActivity
from segmail.store.codec import to_us
from segmail.store.schema import campaign_activity, campaign_results, send_buckets
from segmail.store.upsert import insert_ignore, upsert


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredCampaign:
    """What the store holds of a campaign: its figures at the last read, and when that was (UTC µs)."""

    mc_campaign_id: str
    recipients: int
    opens_total: int
    proxy_opens: int
    clicks_total: int
    bounces: int
    unsubscribed: int
    activity_read_at: int | None
    target: str | None


def stored_campaigns(conn: Connection) -> dict[str, StoredCampaign]:
    c = campaign_results.c
    rows = conn.execute(
        select(
            c.mc_campaign_id, c.recipients, c.opens_total, c.proxy_opens, c.clicks_total, c.bounces,
            c.unsubscribed, c.activity_read_at, c.target,
        )
    ).all()  # fmt: skip
    return {
        str(r[0]): StoredCampaign(
            mc_campaign_id=str(r[0]),
            recipients=int(r[1]),
            opens_total=int(r[2]),
            proxy_opens=int(r[3]),
            clicks_total=int(r[4]),
            bounces=int(r[5]),
            unsubscribed=int(r[6]),
            activity_read_at=r[7],
            target=r[8],
        )
        for r in rows
    }


def bucket_campaigns(conn: Connection, mc_campaign_ids: Sequence[str]) -> dict[str, str]:
    """segmail's campaign (by name) of each Mailchimp campaign that is one of its send buckets."""
    if not mc_campaign_ids:
        return {}
    b = send_buckets.c
    rows = conn.execute(
        select(b.mc_campaign_id, b.campaign).where(b.mc_campaign_id.in_(list(mc_campaign_ids)))
    )
    return {str(mc): str(name) for mc, name in rows}


def save_campaign(conn: Connection, row: dict[str, Any]) -> None:
    """Insert or update one campaign's row (every column of campaign_results but the key may be given)."""
    upsert(conn, campaign_results, [row], ["mc_campaign_id"])


def write_activity(conn: Connection, campaign_id: str, records: Iterable[RecipientActivity]) -> int:
    """Per-recipient bounces, unsubscribes and proxy opens; a record already stored is skipped."""
    rows = {
        (r.email_key, r.kind, to_us(r.at)): {
            "campaign_id": campaign_id,
            "email_key": r.email_key,
            "kind": r.kind,
            "at": to_us(r.at),
            "detail": r.detail,
        }
        for r in records
    }
    if rows:
        insert_ignore(conn, campaign_activity, list(rows.values()))
    return len(rows)
