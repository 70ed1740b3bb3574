"""What `segmail send plan` tells a user besides the rows: which compute it read, and why it planned nobody.

A plan reads the memberships of the last compute and the send ledger; it evaluates nothing at
`--as-of`, which is only the plan's clock. An empty plan has one of four causes, each with its fix.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from segmail.jobs.textfmt import pairs
from segmail.sending.campaigns import CampaignDef
from segmail.store.codec import from_us
from segmail.store.db import Store
from segmail.store.memberships import segment_size
from segmail.store.runs import last_run

NO_COMPUTE = "nothing computed yet: run `segmail segments compute` or `segmail sync --once` first"


@dataclass(frozen=True, slots=True)
class PlanSource:
    """The compute a plan reads, and how many members of the campaign's segment it holds."""

    run_id: int | None
    computed_as_of: datetime | None
    members: int
    entered_since: int  # members who entered at or after the campaign's `since` (all when it has none)

    def describe(self) -> str:
        if self.run_id is None or self.computed_as_of is None:
            return "no compute yet"
        return f"compute run {self.run_id} (as of {self.computed_as_of.isoformat()})"


def plan_source(store: Store, campaign: CampaignDef, *, since_us: int | None) -> PlanSource:
    with store.engine.connect() as conn:
        run = last_run(conn, "compute")
        members = segment_size(conn, campaign.segment)
        entered = members
        if since_us is not None:
            entered = segment_size(conn, campaign.segment, entered_since_us=since_us)
    if run is None:
        return PlanSource(run_id=None, computed_as_of=None, members=0, entered_since=0)
    return PlanSource(
        run_id=int(run["id"]), computed_as_of=run["as_of"], members=members, entered_since=entered
    )


def why_nobody(
    source: PlanSource, campaign: CampaignDef, *, since_us: int | None, skipped: Counter[str]
) -> str:
    """One line: why a plan has no recipient to send to, and what to do about it."""
    if source.run_id is None:
        return NO_COMPUTE
    if skipped:
        return f"all {skipped.total()} recipient(s) skipped, by rule: {pairs(dict(skipped.most_common()))}"
    if source.members == 0:
        return (
            f"segment {campaign.segment} has no members in {source.describe()}; "
            f"`segmail segments preview --as-of ...` shows who would enter it"
        )
    if since_us is not None and source.entered_since == 0:
        since = from_us(since_us)
        shown = since.isoformat() if since else "?"
        return (
            f"campaign {campaign.name} is on_enter without backfill: it mails only members who entered "
            f"{campaign.segment} from {shown} on (when the service first planned it, or --as-of), and all "
            f"{source.members} entered earlier; set campaigns.{campaign.name}.backfill = true to mail them"
        )
    return (
        f"every member of {campaign.segment} already has a send-ledger row for this occurrence "
        "(planned, sent or skipped earlier); `segmail status` shows the sends"
    )
