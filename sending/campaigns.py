"""`[send]` and `[campaigns.NAME]`: what marketers configure, validated at start with TOML keys.

A campaign's `local_time` inside `quiet_hours`, an unknown segment, a missing `date` for an `at`
broadcast or a time Mailchimp cannot schedule are config errors, reported with their key before
anything is planned.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import time, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from segmail.segments.config import format_errors
from segmail.segments.suggest import did_you_mean
from segmail.sending.experiments import (
    AbTest,
    ExperimentFields,
    VariantDef,
    ab_test,
    check_experiment,
    quarter_hour,
    variant_defs,
)
from segmail.sending.timezones import (
    canonical_zone,
    in_quiet_hours,
    parse_duration,
    parse_local_time,
    parse_quiet_hours,
)

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")


def duration(minimum: timedelta = timedelta(0)) -> Any:
    """A pydantic validator for every duration key: "2h", "1h30m", a number of seconds, or a timedelta."""

    def check(value: Any) -> timedelta:
        if isinstance(value, timedelta):
            parsed = value
        elif isinstance(value, int | float) and not isinstance(value, bool):
            parsed = timedelta(seconds=value)
        else:
            parsed = parse_duration(str(value))
        if parsed < minimum:
            raise ValueError(f"must be at least {minimum.total_seconds():g}s")
        return parsed

    return BeforeValidator(check)


Duration = Annotated[timedelta, duration()]


class SendSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    default_timezone: str = "UTC"  # the last link of the time-zone chain; set it to the shop's own zone
    lead: Duration = timedelta(minutes=30)  # a send job runs this long before its slot
    late_policy: Literal["send_if_within", "next_day", "skip"] = "send_if_within"
    send_if_within: Duration = timedelta(hours=2)
    min_hours_between: float = Field(16.0, ge=0)
    frequency_cap_on_enter: Literal["next_slot", "skip"] = "next_slot"
    quiet_hours: str = "21:00-08:00"  # "" for none
    templates_dir: str = "templates"
    shop_name: str = ""
    shop_address: str = ""  # the postal address every mail's footer must show (CAN-SPAM)
    shop_url: str = ""
    currency: str = "EUR"
    plan_horizon: Duration = timedelta(days=8)  # send jobs are registered this far ahead

    @field_validator("default_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        zone = canonical_zone(value)
        if zone is None:
            raise ValueError(f"unknown IANA time zone {value!r} (e.g. Europe/Berlin)")
        return zone

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, value: str) -> str:
        if value:
            parse_quiet_hours(value)
        return value

    @property
    def quiet(self) -> tuple[time, time] | None:
        return parse_quiet_hours(self.quiet_hours) if self.quiet_hours else None


class CampaignModel(ExperimentFields):  # holdout, variants and test-then-winner: sending/experiments.py
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    segment: str
    template: str
    subject: str
    from_name: str
    reply_to: str
    preview_text: str = ""
    local_time: str
    days: list[str] | None = None
    trigger: Literal["on_enter", "at"]
    date: dt.date | None = None  # `at`: the local date of the broadcast
    delay: Duration = timedelta(0)  # `on_enter`: wait this long after entering (e.g. a follow-up)
    backfill: bool = False  # `on_enter`: also mail members who entered before the campaign existed

    @field_validator("local_time")
    @classmethod
    def _time(cls, value: str) -> str:
        return quarter_hour(value)

    @field_validator("days")
    @classmethod
    def _days(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            bad = [d for d in value if d.lower()[:3] not in WEEKDAYS]
            if bad or not value:
                raise ValueError(f"expected weekdays among {', '.join(WEEKDAYS)}, got {value}")
        return value

    @field_validator("reply_to")
    @classmethod
    def _email(cls, value: str) -> str:
        if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
            raise ValueError("expected an email address")
        return value


@dataclass(frozen=True, kw_only=True)
class CampaignDef:
    name: str
    enabled: bool
    segment: str
    template: str
    subject: str
    from_name: str
    reply_to: str
    preview_text: str
    local_time: time
    days: frozenset[int] | None
    trigger: str
    date: dt.date | None
    delay: timedelta
    backfill: bool
    holdout_percent: float = 0.0
    variants: tuple[VariantDef, ...] = ()
    ab_test: AbTest | None = None

    def as_variant(self, name: str) -> CampaignDef:
        """The campaign as variant `name` mails it (its subject, template and local time); "" is the campaign."""
        if not name:
            return self
        v = next((v for v in self.variants if v.name == name), None)
        if v is None:
            raise KeyError(f"campaign {self.name} has no variant {name!r}")
        return replace(
            self, subject=v.subject or self.subject, template=v.template or self.template,
            local_time=v.local_time or self.local_time,
        )  # fmt: skip

    def mails(self) -> list[tuple[str, str, str]]:
        """(variant, template, subject) of every mail the campaign can send: the campaign's own when it
        has no variants, else each variant's."""
        if not self.variants:
            return [("", self.template, self.subject)]
        return [(v.name, (d := self.as_variant(v.name)).template, d.subject) for v in self.variants]


def parse_campaigns(
    raw: Mapping[str, Any],
    errors: list[str],
    *,
    segments: set[str],
    send: SendSettings,
    warnings: list[str] | None = None,
) -> dict[str, CampaignDef]:
    """Validate `[campaigns.NAME]` tables; problems are appended to `errors` naming the key.

    A disabled campaign whose segment is gone (renamed or removed) is only a warning: it sends
    nothing, and it should not stop the service or a command until someone edits or deletes it.
    """
    out: dict[str, CampaignDef] = {}
    for name, table in raw.items():
        key = f"campaigns.{name}"
        m = _campaign_model(name, table, key, errors)
        if m is None:
            continue
        start = len(errors)
        _check_segment(m, key, segments, errors, warnings)
        _check_schedule(m, key, send, errors)
        if len(errors) > start:
            continue
        days = frozenset(WEEKDAYS.index(d.lower()[:3]) for d in m.days) if m.days else None
        out[name] = CampaignDef(
            name=name, enabled=m.enabled, segment=m.segment, template=m.template, subject=m.subject,
            from_name=m.from_name, reply_to=m.reply_to, preview_text=m.preview_text,
            local_time=parse_local_time(m.local_time), days=days, trigger=m.trigger, date=m.date,
            delay=m.delay, backfill=m.backfill, holdout_percent=m.holdout_percent,
            variants=variant_defs(m), ab_test=ab_test(m),
        )  # fmt: skip
    if raw:
        _check_shop_identity(send, errors)
    return out


def _campaign_model(name: str, table: Any, key: str, errors: list[str]) -> CampaignModel | None:
    """The table validated field by field, or None with the problems appended to `errors`."""
    if not isinstance(table, dict):
        errors.append(f"{key}: expected a table [{key}]")
        return None
    if _NAME.fullmatch(name) is None:
        errors.append(f"{key}: a campaign name is lower case letters, digits and _, starting with a letter")
        return None
    try:
        return CampaignModel.model_validate(table)
    except ValidationError as exc:
        errors.extend(format_errors(exc, key, CampaignModel.model_fields))
        return None


def _check_segment(
    m: CampaignModel, key: str, segments: set[str], errors: list[str], warnings: list[str] | None
) -> None:
    """An unknown segment is an error, or only a warning for a disabled campaign."""
    if m.segment in segments:
        return
    hint = did_you_mean(m.segment, segments) or f" (known: {', '.join(sorted(segments))})"
    message = f"{key}.segment: no segment named {m.segment!r}{hint}"
    if m.enabled:
        errors.append(message)
    elif warnings is not None:
        warnings.append(f"{message}; the campaign is disabled, so nothing is sent")


def _check_schedule(m: CampaignModel, key: str, send: SendSettings, errors: list[str]) -> None:
    """The local time outside quiet hours; an `at` campaign's date present and on an allowed weekday."""
    local = parse_local_time(m.local_time)
    if send.quiet is not None and in_quiet_hours(local, send.quiet):
        errors.append(f"{key}.local_time: {m.local_time} is inside send.quiet_hours ({send.quiet_hours})")
    if m.trigger == "at" and m.date is None:
        errors.append(f'{key}.date: a trigger = "at" campaign needs the local date, e.g. date = 2026-12-01')
    if m.trigger == "at" and m.date is not None and m.days:
        allowed = {d.lower()[:3] for d in m.days}
        if WEEKDAYS[m.date.weekday()] not in allowed:
            errors.append(f"{key}.date: {m.date} is a {m.date:%A}, which {key}.days does not allow")
    if m.trigger == "on_enter" and m.date is not None:
        errors.append(f'{key}.date: only trigger = "at" campaigns have a date')
    check_experiment(
        m, key, errors, trigger=m.trigger, day=m.date, local_time=local, quiet=send.quiet, lead=send.lead
    )


def _check_shop_identity(send: SendSettings, errors: list[str]) -> None:
    """Every mail names the shop, links to it and shows its postal address (CAN-SPAM)."""
    if not send.shop_address.strip():
        errors.append(
            "send.shop_address: required when campaigns are configured (every mail shows it, CAN-SPAM)"
        )
    if not send.shop_name.strip():
        errors.append("send.shop_name: required when campaigns are configured")
    if not send.shop_url.startswith(("https://", "http://")):
        errors.append("send.shop_url: required when campaigns are configured, e.g. https://shop.example")


def parse_send(raw: Mapping[str, Any], errors: list[str]) -> SendSettings:
    try:
        return SendSettings.model_validate(raw)
    except ValidationError as exc:
        errors.extend(format_errors(exc, "send", SendSettings.model_fields))
        return SendSettings()
