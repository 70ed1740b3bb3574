"""A campaign's holdout, A/B variants and test-then-winner: their config keys and the times they imply.

`holdout_percent` keeps a deterministic share of each occurrence's eligible recipients unmailed (the
comparison group that tells what the mail caused). `[[campaigns.NAME.variants]]` splits recipients
by weight between subjects, templates and/or local times. With `test_percent` and `test_date`, an
`at` broadcast first sends the variants to that share on `test_date`; the winner by `winner_metric`
goes to everyone else on `date`. Validated with the campaign, every error naming its TOML key.

The winner is decided once, at `decide_at`: the moment `date` begins in the earliest time zone on
Earth (UTC+14) minus `[send] lead`, so no recipient's winner slot can come before it. Every test slot
must lie before that moment even in the latest zone (UTC-12), so the test has ended everywhere when
the figures are read.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from segmail.sending.timezones import in_quiet_hours, parse_local_time

WINNER_METRICS = ("click_rate", "revenue_per_recipient")
EARLIEST_OFFSET = timedelta(hours=14)  # UTC+14 (Pacific/Kiritimati): where a local date begins first
LATEST_OFFSET = timedelta(hours=12)  # UTC-12: where a local date ends last
_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")


def quarter_hour(value: str) -> str:
    t = parse_local_time(value)
    if t.minute % 15:
        raise ValueError("Mailchimp schedules on quarter hours: use :00, :15, :30 or :45")
    return value


class VariantModel(BaseModel):
    """One `[[campaigns.NAME.variants]]` table; a key left out is the campaign's own."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    weight: float = Field(1.0, gt=0)  # relative: weights 50 and 50 split like 1 and 1
    subject: str | None = None
    template: str | None = None
    local_time: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if _NAME.fullmatch(value) is None:
            raise ValueError(
                "a variant name is lower case letters, digits and _ (at most 32), starting with a letter"
            )
        return value

    @field_validator("local_time")
    @classmethod
    def _time(cls, value: str | None) -> str | None:
        return None if value is None else quarter_hour(value)


class ExperimentFields(BaseModel):
    """The experiment keys of `[campaigns.NAME]` (the campaign model inherits them)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    holdout_percent: float = Field(0.0, ge=0, le=100)
    variants: list[VariantModel] = Field(default_factory=list)
    test_percent: float | None = Field(None, gt=0, lt=100)
    test_date: date | None = None
    winner_metric: Literal["click_rate", "revenue_per_recipient"] = "click_rate"


@dataclass(frozen=True, kw_only=True)
class VariantDef:
    name: str
    weight: float
    subject: str | None
    template: str | None
    local_time: time | None


@dataclass(frozen=True, kw_only=True)
class AbTest:
    """Test-then-winner: `percent` of the recipients get the variants on `test_date`."""

    percent: float
    test_date: date
    winner_metric: str


def variant_defs(m: ExperimentFields) -> tuple[VariantDef, ...]:
    return tuple(
        VariantDef(
            name=v.name,
            weight=v.weight,
            subject=v.subject,
            template=v.template,
            local_time=parse_local_time(v.local_time) if v.local_time else None,
        )
        for v in m.variants
    )


def ab_test(m: ExperimentFields) -> AbTest | None:
    if m.test_percent is None or m.test_date is None:
        return None
    return AbTest(percent=m.test_percent, test_date=m.test_date, winner_metric=m.winner_metric)


def decide_at(day: date, lead: timedelta) -> datetime:
    """When a test-then-winner broadcast on local `day` picks its winner (see the module docstring)."""
    return datetime.combine(day, time(0), UTC) - EARLIEST_OFFSET - lead


def last_test_slot(test_date: date, local_times: Sequence[time]) -> datetime:
    """The latest instant any test recipient can be mailed: the latest local time in UTC-12."""
    return datetime.combine(test_date, max(local_times), UTC) + LATEST_OFFSET


def check_experiment(
    m: ExperimentFields,
    key: str,
    errors: list[str],
    *,
    trigger: str,
    day: date | None,
    local_time: time,
    quiet: tuple[time, time] | None,
    lead: timedelta,
) -> None:
    """Cross-key rules; each problem appended to `errors` naming its key."""
    names = [v.name for v in m.variants]
    if len(m.variants) == 1:
        errors.append(f"{key}.variants: an A/B test needs at least two variants, got one ({names[0]!r})")
    for dup in sorted({n for n in names if names.count(n) > 1}):
        errors.append(f"{key}.variants: the variant name {dup!r} is used twice")
    for i, v in enumerate(m.variants):
        if v.local_time and quiet is not None and in_quiet_hours(parse_local_time(v.local_time), quiet):
            errors.append(f"{key}.variants.{i}.local_time: {v.local_time} is inside send.quiet_hours")
    _check_test(m, key, errors, trigger=trigger, day=day, local_time=local_time, lead=lead)


def _check_test(
    m: ExperimentFields, key: str, errors: list[str], *, trigger: str, day: date | None, local_time: time,
    lead: timedelta,
) -> None:  # fmt: skip
    if (m.test_percent is None) != (m.test_date is None):
        have, missing = (
            ("test_percent", "test_date") if m.test_date is None else ("test_date", "test_percent")
        )
        errors.append(f"{key}.{missing}: a test-then-winner campaign sets both {have} and {missing}")
        return
    if m.test_date is None:
        if "winner_metric" in m.model_fields_set:
            errors.append(
                f"{key}.winner_metric: only a test-then-winner campaign (test_percent, test_date) has one"
            )
        return
    if trigger != "at":
        errors.append(f'{key}.test_date: test-then-winner is for trigger = "at" broadcasts')
        return
    if len(m.variants) < 2:
        errors.append(f"{key}.variants: test-then-winner needs at least two variants")
        return
    if day is None:
        return  # the missing date is reported with its own key
    times = [parse_local_time(v.local_time) if v.local_time else local_time for v in m.variants]
    last, decision = last_test_slot(m.test_date, times), decide_at(day, lead)
    if last > decision:
        errors.append(
            f"{key}.test_date: {m.test_date} is too close to date {day}: the last test mails (at "
            f"{max(times):%H:%M} in UTC-12, {last:%Y-%m-%d %H:%M}Z) must go out before the winner is "
            f"picked ({decision:%Y-%m-%d %H:%M}Z, when {day} begins in UTC+14, minus send.lead); "
            "two days before date is usually enough"
        )
