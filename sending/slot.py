"""One send job's slot as plain values: its buckets, its skips and whom it leaves unsent.

Pure, like sending/plan.py: planned recipients come in, a `SlotPlan` goes out, and `SlotPlan.write`
gives the store the rows to write in one transaction before the job drives Mailchimp. A bucket is
every recipient of the slot with the same send instant and the same rendered mail (its key, see
segmail.sending.plan.bucket_key).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from segmail.sending.plan import HOLDOUT, PlannedSend, variant_fields
from segmail.sending.unsent import BUCKET_NOT_CREATED, UNDOCUMENTED_SKIP, documented
from segmail.store.codec import to_us
from segmail.store.ledger import Entry, NewBucket, SlotWrite, SlotWritten
from segmail.store.unsent import Unsent

BUCKET_PREFIX = 40  # characters of the campaign name that lead a bucket id (the column holds 64)


@dataclass(frozen=True)
class BucketPlan:
    """Recipients who get the same mail at the same instant: one Mailchimp campaign."""

    key: str
    members: tuple[PlannedSend, ...]

    @property
    def first(self) -> PlannedSend:
        return self.members[0]

    def prefix(self, campaign: str) -> str:
        """Keyed by campaign too (see segmail.sending.plan.bucket_key); the store appends the batch number."""
        return f"{campaign[:BUCKET_PREFIX]}-{self.key}"

    def new_bucket(self, campaign: str) -> NewBucket:
        first = self.first
        assert first.send_at is not None, "a bucket holds recipients with a send time"
        fields = variant_fields(first.variant)
        variant: dict[str, str] = dict(zip(("segment", "language", "country", "season"), fields, strict=True))
        label = "/".join(v for v in fields if v) or "all"
        if first.ab_variant:  # only then: other campaigns' JSON (what next_batch counts by) stays as it was
            variant |= {"ab_variant": first.ab_variant, "ab_phase": first.ab_phase}
            label = f"{label} {first.ab_phase or 'variant'} {first.ab_variant}"
        return NewBucket(
            prefix=self.prefix(campaign), slot_at=to_us(first.job_slot), send_at=to_us(first.send_at),
            variant=json.dumps(variant | {"send_date": first.local_date.isoformat()}, sort_keys=True),
            title=f"segmail {campaign} {first.job_slot:%Y-%m-%d %H:%M}Z {label}",
            entries=tuple(entry(p) for p in self.members),
        )  # fmt: skip


@dataclass(frozen=True)
class Unsendable:
    """Planned recipients who go without the mail for no documented rule: unsent errors."""

    reason: str  # one of sending.unsent's error reasons
    detail: str
    entries: tuple[Entry, ...]

    def rows(self, campaign: str, *, at_us: int) -> list[Unsent]:
        return [
            Unsent(campaign, e.email_key, e.occurrence, self.reason, self.detail, None, e.slot_at, at_us)
            for e in self.entries
        ]


@dataclass(frozen=True, kw_only=True)
class SlotPlan:
    campaign: str
    job_slot: datetime
    buckets: tuple[BucketPlan, ...] = ()
    skips: tuple[PlannedSend, ...] = ()  # skipped by a rule: written to the ledger as skipped
    holdouts: tuple[PlannedSend, ...] = ()  # held out (holdout_percent): written as holdout, never sent
    unsendable: tuple[Unsendable, ...] = ()

    def skipped(self) -> dict[str, int]:
        """Skips per reason, in the order the planner met them."""
        counts: dict[str, int] = {}
        for p in self.skips:
            counts[p.reason] = counts.get(p.reason, 0) + 1
        return counts

    def without_buckets(self, reason: str, detail: str) -> SlotPlan:
        """Nobody is bucketed (e.g. the template fails): every recipient a bucket held is unsent."""
        held = tuple(entry(p) for bucket in self.buckets for p in bucket.members)
        gone = (Unsendable(reason, detail, held),) if held else ()
        return replace(self, buckets=(), unsendable=self.unsendable + gone)

    def unsent_after(self, written: SlotWritten) -> tuple[Unsendable, ...]:
        """Whom the slot leaves unsent once written: the plan's own, and the recipients of a bucket
        another run got to first that no ledger row holds."""
        missed = (Unsendable(BUCKET_NOT_CREATED, f"bucket {n.prefix}-*", n.left) for n in written.not_created)
        return tuple(u for u in (*self.unsendable, *missed) if u.entries)

    def write(self, *, at_us: int) -> SlotWrite:
        return SlotWrite(
            campaign=self.campaign,
            created_at=at_us,
            skips=tuple(entry(p) for p in self.skips),
            holdouts=tuple(entry(p) for p in self.holdouts),
            buckets=tuple(b.new_bucket(self.campaign) for b in self.buckets),
        )


def plan_slot(campaign: str, job_slot: datetime, planned: Iterable[PlannedSend]) -> SlotPlan:
    """This job's recipients (those whose job slot it is): grouped into buckets, held out, or skipped
    by a rule. A skip whose reason is none of the documented rules is also an unsent error."""
    groups: dict[str, list[PlannedSend]] = defaultdict(list)
    skips: list[PlannedSend] = []
    holdouts: list[PlannedSend] = []
    for p in planned:
        if p.job_slot != job_slot:
            continue
        if p.action == HOLDOUT:
            holdouts.append(p)
        elif p.send_at is None:
            skips.append(p)
        else:
            groups[p.bucket_key].append(p)
    odd = [p for p in skips if not documented(p.reason)]
    unsendable = tuple(
        Unsendable(
            UNDOCUMENTED_SKIP, reason or "no reason", tuple(entry(p) for p in odd if p.reason == reason)
        )
        for reason in sorted({p.reason for p in odd})
    )
    return SlotPlan(
        campaign=campaign, job_slot=job_slot, skips=tuple(skips), holdouts=tuple(holdouts), unsendable=unsendable,
        buckets=tuple(BucketPlan(key, tuple(members)) for key, members in groups.items()),
    )  # fmt: skip


def due_slots(planned: Iterable[PlannedSend], *, until: datetime) -> dict[datetime, int]:
    """Recipients per job slot up to `until`: the send jobs a plan needs."""
    slots: dict[datetime, int] = defaultdict(int)
    for p in planned:
        if p.job_slot <= until:
            slots[p.job_slot] += 1
    return dict(slots)


def entry(p: PlannedSend) -> Entry:
    return Entry(
        p.email_key, p.occurrence, to_us(p.send_at or p.slot), p.zone, p.tz_source, p.reason or None,
        p.ab_variant, p.ab_phase,
    )  # fmt: skip
