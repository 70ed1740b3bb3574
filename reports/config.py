"""`[report]`: how revenue is attributed to campaigns and counted per segment, validated at start.

Every default is the documented rule (README "Reports"): an order is attributed to the campaign of the
contact's latest open or click in the `attribution_window` (5 days) before it; opens count unless
`attribute_opens = false`; paid orders are those in `paid_statuses` (unset: `[segments] paid_statuses`,
so a report and the segments agree on what a purchase is); refunds reduce revenue.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, field_validator

from segmail.connector.shop_status import CANONICAL
from segmail.sending.campaigns import duration

ATTRIBUTION_WINDOW = timedelta(days=5)


class ReportSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # a touch counts when order time - window <= touch time <= order time (both ends inclusive, to the µs)
    attribution_window: Annotated[timedelta, duration(timedelta(seconds=1))] = ATTRIBUTION_WINDOW
    attribute_opens: bool = True  # false: only clicks are touches
    # Mailchimp flags some opens as machine opens (mail clients that load images through a proxy, such as
    # Apple Mail Privacy Protection); they are opens in Mailchimp's own figures, so they count unless false
    attribute_proxy_opens: bool = True
    paid_statuses: tuple[str, ...] | None = None  # None: [segments] paid_statuses
    net_of_refunds: bool = True  # revenue is total - refunded; false: the order totals
    # holdouts and A/B tests (reports/causal.py): a recipient converts with a paid order within this long
    # after their slot (held out: after the slot they would have been mailed in); also what a
    # revenue_per_recipient A/B decision counts
    conversion_window: Annotated[timedelta, duration(timedelta(hours=1))] = timedelta(days=7)

    @field_validator("paid_statuses")
    @classmethod
    def _statuses(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        bad = [s for s in value if s not in CANONICAL]
        if bad or not value:
            raise ValueError(f"expected statuses among {', '.join(sorted(CANONICAL))}, got {list(value)}")
        return value

    def statuses(self, segments_paid: tuple[str, ...] | list[str]) -> tuple[str, ...]:
        """The paid statuses a report counts: its own, else the segments'."""
        return self.paid_statuses if self.paid_statuses is not None else tuple(segments_paid)
