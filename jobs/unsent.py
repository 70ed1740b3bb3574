"""`send unsent`: the recipients an error left without the mail, listed, and on request acknowledged.

Listing and acknowledging share one transaction, and only rows recorded before the listing started
are cleared: a recipient recorded while the operator reads the list stays until they have seen it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from segmail.store import unsent
from segmail.store.codec import to_us
from segmail.store.db import Store


@dataclass(frozen=True, slots=True)
class Listed:
    listed: int
    cleared: int  # 0 unless asked to clear


def list_unsent(
    store: Store,
    campaign: str | None,
    *,
    clear: bool,
    now: datetime,
    on_row: Callable[[tuple[Any, ...]], None],
) -> Listed:
    """Hands `on_row` each (email, campaign, occurrence, reason, slot_at_us, recorded_at_us, detail);
    with `clear`, then acknowledges the rows recorded up to `now`, which are the ones handed over."""
    started = to_us(now)
    listed = cleared = 0
    with store.engine.begin() as conn:
        for row in unsent.listing(conn, campaign):
            listed += 1
            on_row(row)
        if clear:
            cleared = unsent.acknowledge(conn, campaign, recorded_until_us=started)
    return Listed(listed, cleared)
