"""Report data on top of a generated shop (sandbox/shopgen.py): its campaigns as campaign results, and
per-recipient bounces, unsubscribes and machine opens, as a sync would have pulled them.

The shop's events name 150 weekly campaigns `c0001`…`c0150`, the last sent two days before the as-of
(sandbox/shopgen_base.py); each becomes a sent Mailchimp campaign here. Targets rotate: a third are
segmail's own (five campaigns, one per segment, each sent many times: one row each in the report), a
third go to a segmail tag from Mailchimp, a third to the whole audience ("other"). Per recipient, in
seeded draws: an open whose second ends in 0-2 is a machine (proxy) open, 1 % of the subscribed
audience bounces and 0.2 % unsubscribes per campaign.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from segmail.sandbox.shopgen_base import CAMPAIGNS
from segmail.store.campaign_results import save_campaign
from segmail.store.codec import to_us
from segmail.store.db import Store
from segmail.store.schema import campaign_activity
from segmail.store.upsert import insert_ignore

SEGMENTS = ("welcome", "repeat_buyer", "vip", "lapsed", "unengaged")
LIST_ID = "list1"


def campaign_sends(as_of: datetime) -> list[tuple[str, datetime]]:
    """(campaign id, send time) of the generator's campaigns, as shopgen_base schedules them."""
    day = 86_400
    as_ts = int(as_of.timestamp())
    first = (as_ts // day - 2) * day + 8 * 3600 - (CAMPAIGNS - 1) * 7 * day
    return [(f"c{k + 1:04d}", datetime.fromtimestamp(first + k * 7 * day, UTC)) for k in range(CAMPAIGNS)]


def register_campaigns(store: Store, *, as_of: datetime) -> int:
    """The generator's campaigns as campaign results of list1, with their per-recipient activity."""
    with store.engine.begin() as conn:
        subscribed = list(
            conn.execute(text("SELECT email_key FROM contacts WHERE status = 'subscribed'")).scalars()
        )
        audience = len(subscribed)
        for k, (cid, sent) in enumerate(campaign_sends(as_of)):
            segment = SEGMENTS[k % len(SEGMENTS)]
            kind = ("segmail", "tag", "other")[k % 3]
            save_campaign(conn, {
                "mc_campaign_id": cid, "list_id": LIST_ID, "title": f"newsletter {sent:%Y-%m-%d}",
                "sent_at": to_us(sent), "recipients": audience // (1 if kind == "other" else 5), "target": kind,
                "campaign": f"{segment}_series" if kind == "segmail" else None,
                "segment": None if kind == "other" else segment, "opens_total": 0, "proxy_opens": 0,
                "unique_opens": 0, "clicks_total": 0, "unique_clicks": 0, "unsubscribed": 0, "bounces": 0,
                "activity_read_at": to_us(sent + timedelta(days=7)), "updated_at": to_us(as_of),
            })  # fmt: skip
            rng = random.Random(f"report-bench/{cid}")
            for activity, share, delay in (("bounce", 0.01, 30), ("unsubscribe", 0.002, 3600)):
                at = to_us(sent + timedelta(seconds=delay))
                chosen = rng.sample(subscribed, int(len(subscribed) * share))
                rows = [{"campaign_id": cid, "email_key": key, "kind": activity, "at": at,
                         "detail": "hard" if activity == "bounce" else None} for key in sorted(chosen)]  # fmt: skip
                insert_ignore(conn, campaign_activity, rows)
        conn.execute(
            text(
                "INSERT INTO campaign_activity (campaign_id, email_key, kind, at, detail) "
                "SELECT campaign_id, email_key, 'proxy_open', at, NULL FROM events "
                "WHERE type = 'open' AND (at / 1000000) % 10 < 3"
            )
        )
    return CAMPAIGNS
