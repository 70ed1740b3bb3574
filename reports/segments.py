"""`segmail report segments` and `report movements`: per segment, who was in, who came and went, and
what they spent, three ways; and the matrix of moves between segments.

Revenue by segment, labelled, all counting paid orders placed in the period:
- `revenue`: by the segment's members at the end of the period (its last compute at or before until);
- `revenue_while_member`: by contacts while they were members (from the segment history);
- `attributed_revenue`: attributed to campaigns that targeted the segment.
`revenue_per_member` is `revenue` over `members_end`.

A movement counts each contact whose memberships differ between the start and the end of the period:
every segment it left paired with every segment it joined; "(none)" stands for no segment left (it only
joined) or none joined (it only left).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from segmail.reports.attribution import Attributed
from segmail.reports.money import amount, per
from segmail.store.report_segments import Revenue, Step

COLUMNS: Final = (
    "segment", "members_start", "members_end", "entered", "left", "orders", "revenue", "revenue_while_member",
    "attributed_revenue", "revenue_per_member", "orders_while_member", "attributed_orders",
)  # fmt: skip
MOVEMENT_COLUMNS: Final = ("from", "to", "members")
NONE: Final = "(none)"


@dataclass(frozen=True, slots=True)
class Sizes:
    start: int  # members after the last compute at or before `since`
    end: int  # members after the last compute at or before `until`
    entered: int  # entries by the computes after `since` up to `until`: end = start + entered - left
    left: int


def sizes(steps: Iterable[Step], *, since_us: int, until_us: int) -> dict[str, Sizes]:
    """Per segment, its sizes at both ends of the period and the entries and exits between them."""
    out: dict[str, list[int]] = {}
    for s in steps:
        start, end, entered, left = out.setdefault(s.segment, [0, 0, 0, 0])
        net = s.entered - s.left
        if s.at <= since_us:
            start += net
        if s.at <= until_us:
            end += net
            if s.at > since_us:
                entered, left = entered + s.entered, left + s.left
        out[s.segment] = [start, end, entered, left]
    return {name: Sizes(*v) for name, v in out.items()}


@dataclass(frozen=True, kw_only=True)
class SegmentRow:
    segment: str
    members_start: int
    members_end: int
    entered: int
    left: int
    orders: int  # paid orders in the period by the members at its end
    revenue: Decimal
    revenue_while_member: Decimal
    attributed_revenue: Decimal
    revenue_per_member: Decimal | None
    orders_while_member: int
    attributed_orders: int

    def values(self) -> dict[str, Any]:
        return {c: getattr(self, c) for c in COLUMNS}


def segment_rows(
    segments: Iterable[str],
    sizes: Mapping[str, Sizes],
    end_members: Mapping[str, Revenue],
    while_member: Mapping[str, Revenue],
    attributed: Mapping[str, Revenue],
) -> list[SegmentRow]:
    rows = []
    for name in segments:
        s = sizes.get(name, Sizes(0, 0, 0, 0))
        end, during, touched = (m.get(name, Revenue()) for m in (end_members, while_member, attributed))
        row = SegmentRow(
            segment=name, members_start=s.start, members_end=s.end, entered=s.entered, left=s.left,
            orders=end.orders, revenue=amount(end.revenue_e4), revenue_while_member=amount(during.revenue_e4),
            attributed_revenue=amount(touched.revenue_e4), revenue_per_member=per(end.revenue_e4, s.end),
            orders_while_member=during.orders, attributed_orders=touched.orders,
        )  # fmt: skip
        rows.append(row)
    return rows


def attributed_by_segment(
    attributed: Iterable[Attributed], segment_of: Mapping[str, str | None]
) -> dict[str, Revenue]:
    """Attributed orders and revenue per segment of the campaign each order went to."""
    out: dict[str, Revenue] = {}
    for a in attributed:
        segment = segment_of.get(a.touch.campaign_id)
        if segment is None:
            continue
        held = out.get(segment, Revenue())
        out[segment] = Revenue(held.orders + 1, held.revenue_e4 + (a.order.revenue_e4 or 0))
    return out


def movements(
    patterns: Iterable[tuple[int, int, int]], segments: Sequence[str]
) -> dict[tuple[str, str], int]:
    """(from, to) -> contacts, from (left mask, joined mask, contacts) patterns over `segments`."""
    out: dict[tuple[str, str], int] = {}
    for left_mask, joined_mask, n in patterns:
        left = [name for i, name in enumerate(segments) if left_mask >> i & 1] or [NONE]
        joined = [name for i, name in enumerate(segments) if joined_mask >> i & 1] or [NONE]
        for a in left:
            for b in joined:
                out[(a, b)] = out.get((a, b), 0) + n
    return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))


def sizes_at(steps: Iterable[Step], instants: Sequence[int]) -> dict[str, list[int]]:
    """Per segment, its members at each of `instants` (ascending, UTC µs): the state the computes at or
    before each instant left. `steps` in time order."""
    changes: dict[str, list[tuple[int, int]]] = {}
    for s in steps:
        changes.setdefault(s.segment, []).append((s.at, s.entered - s.left))
    out: dict[str, list[int]] = {}
    for segment, deltas in changes.items():
        size, i, series = 0, 0, []
        for instant in instants:
            while i < len(deltas) and deltas[i][0] <= instant:
                size += deltas[i][1]
                i += 1
            series.append(size)
        out[segment] = series
    return out
