"""Recipient time zones and DST-correct send slots, called by the send planner once per recipient.

Zone data is pytz's (a project-fixed dependency), read straight from its transition tables so
that wall-clock → instant is exact for gaps and overlaps of any length and agrees with what
`pytz` itself reports for the other direction. pytz's tables end in 2037; later dates keep the
last offset. Everything here is pure and cached per zone / (date, time, zone), since a plan
asks the same few questions for up to a million recipients.
"""

from __future__ import annotations

import logging
import re
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, Final

import pytz

from segmail.sending.zone_tables import MAIN_ZONE, PROVINCE_ZONES, TERRITORY_COUNTRY

TZ_SOURCES: Final = ("mailchimp", "contact", "shop_address", "mailchimp_country", "default")
LATE_POLICIES: Final = ("send_if_within", "next_day", "skip")
SEARCH_DAYS: Final = 14  # next_slot gives up after this many local days past `after`

_log = logging.getLogger("segmail.send")


@dataclass(frozen=True, slots=True)
class ZoneChoice:
    zone: str
    source: str

    def __post_init__(self) -> None:
        if self.source not in TZ_SOURCES:
            raise ValueError(f"source must be one of {', '.join(TZ_SOURCES)}, got: {self.source!r}")


@dataclass(frozen=True, slots=True)
class LateDecision:
    send_at: datetime | None
    action: str

    def __post_init__(self) -> None:
        if self.action not in _LATE_ACTIONS:
            raise ValueError(f"action must be one of {', '.join(_LATE_ACTIONS)}, got: {self.action!r}")
        if (self.send_at is None) != (self.action == "skip"):
            raise ValueError(f"send_at must be None exactly when action is 'skip', got: {self.send_at}")


_LATE_ACTIONS: Final = ("on_time", "send_now", "next_day", "skip")


def canonical_zone(name: str) -> str | None:
    """pytz's spelling of `name`, or None; Mailchimp sends lowercase names, but nothing fuzzier is guessed."""
    return _canonical_zone(name)


def country_zone(country: str, province: str | None = None) -> str | None:
    """The zone of an address, or None for an unknown country; an unknown province falls back to the main zone."""
    return _country_zone(country, province)


@lru_cache(maxsize=1)
def _names_by_lower() -> dict[str, str]:
    return {name.lower(): name for name in pytz.all_timezones}


@lru_cache(maxsize=4096)
def _canonical_zone(name: str) -> str | None:
    return _names_by_lower().get(name.strip().lower())


@lru_cache(maxsize=4096)
def _country_zone(country: str, province: str | None) -> str | None:
    cc = country.strip().upper()
    if len(cc) != 2 or cc not in pytz.country_timezones:
        return None
    sub = (province or "").strip().upper().removeprefix(f"{cc}-")
    if territory := TERRITORY_COUNTRY.get(cc, {}).get(sub):
        return _country_zone(territory, None)
    if zone := PROVINCE_ZONES.get(cc, {}).get(sub):
        return zone
    return MAIN_ZONE.get(cc) or pytz.country_timezones[cc][0]


@lru_cache(maxsize=4096)
def _choice(zone: str, source: str) -> ZoneChoice:
    return ZoneChoice(zone, source)


def _warn_invalid(source: str, value: str) -> None:
    _log.warning("ignoring invalid %s time zone value %r", source, value)


class ZoneResolver:
    """Resolve a recipient's zone through the chain; an invalid name is reported once (per distinct bad value) and the chain continues."""

    __slots__ = ("_default", "_on_invalid", "_reported")

    def __init__(
        self, default_timezone: str, *, on_invalid: Callable[[str, str], None] | None = None
    ) -> None:
        zone = canonical_zone(default_timezone)
        if zone is None:
            raise ValueError(f"default_timezone is not a known IANA time zone, got: {default_timezone!r}")
        self._default = _choice(zone, "default")
        self._on_invalid = on_invalid or _warn_invalid
        # A list of a million contacts repeats the same few bad values; report each once.
        self._reported: set[tuple[str, str]] = set()

    def resolve(
        self,
        *,
        mc_timezone: str | None,
        contact_timezone: str | None,
        order_country: str | None,
        order_province: str | None,
        mc_country: str | None,
    ) -> ZoneChoice:
        if mc_timezone and (zone := self._check("mailchimp", mc_timezone, _canonical_zone(mc_timezone))):
            return _choice(zone, "mailchimp")
        if contact_timezone and (
            zone := self._check("contact", contact_timezone, _canonical_zone(contact_timezone))
        ):
            return _choice(zone, "contact")
        if order_country and (
            zone := self._check("shop_address", order_country, _country_zone(order_country, order_province))
        ):
            return _choice(zone, "shop_address")
        if mc_country and (
            zone := self._check("mailchimp_country", mc_country, _country_zone(mc_country, None))
        ):
            return _choice(zone, "mailchimp_country")
        return self._default

    def _check(self, source: str, raw: str, zone: str | None) -> str | None:
        if zone is None and (value := raw.strip()) and (source, value) not in self._reported:
            self._reported.add((source, value))
            self._on_invalid(source, value)
        return zone


@dataclass(frozen=True, slots=True)
class _Offsets:
    """A zone as pytz stores it: naive-UTC instants from which each offset applies."""

    starts: tuple[datetime, ...]
    offsets: tuple[timedelta, ...]


_SPAN = timedelta(days=2)  # beyond any UTC offset pytz knows (LMT reached ±15:56)


@lru_cache(maxsize=1024)
def _zone_offsets(zone: str) -> _Offsets:
    name = canonical_zone(zone)
    if name is None:
        raise ValueError(f"unknown time zone: {zone!r}")
    tz: Any = pytz.timezone(name)
    if not hasattr(tz, "_utc_transition_times"):  # UTC and the fixed-offset zones
        # Naive UTC, like pytz's own tables.
        return _Offsets((datetime.min,), (tz.utcoffset(None),))  # noqa: DTZ901
    # Private but unchanged for 15+ years, and the only way to see pytz's exact transitions.
    return _Offsets(tuple(tz._utc_transition_times), tuple(info[0] for info in tz._transition_info))


def _wall(instant: datetime, zone: str) -> datetime:
    _require_aware(instant, "instant")
    utc = instant.astimezone(UTC).replace(tzinfo=None)
    off = _zone_offsets(zone)
    return utc + off.offsets[max(bisect_right(off.starts, utc) - 1, 0)]


@lru_cache(maxsize=1 << 16)
def _slot(local_date: date, local_time: time, zone: str) -> datetime:
    wall = datetime.combine(local_date, local_time)
    off = _zone_offsets(zone)
    starts, offsets = off.starts, off.offsets
    lo = max(bisect_right(starts, wall - _SPAN) - 1, 0)
    hi = bisect_right(starts, wall + _SPAN)
    # Valid candidates come out in time order, so the first one is the first occurrence.
    for i in range(lo, hi):
        utc = wall - offsets[i]
        if starts[i] <= utc and (i + 1 == len(starts) or utc < starts[i + 1]):
            return utc.replace(tzinfo=UTC)
    for k in range(lo + 1, hi):
        if starts[k] + offsets[k - 1] <= wall < starts[k] + offsets[k]:
            return starts[k].replace(tzinfo=UTC)
    raise AssertionError(f"no instant for {wall} in {zone}")  # unreachable: intervals cover all time


def slot_instant(local_date: date, local_time: time, zone: str) -> datetime:
    """The UTC instant of `local_time` on `local_date` in `zone`.

    A wall time inside a gap means "as soon as the clock allows", so it becomes the transition
    instant; in an overlap the first occurrence wins so nobody gets the mail an hour late.
    """
    if local_time.tzinfo is not None:
        raise ValueError(f"local_time must be a naive wall time, got: {local_time!r}")
    return _slot(local_date, local_time.replace(fold=0), zone)


def local_date_of(instant: datetime, zone: str) -> date:
    return _wall(instant, zone).date()


def in_quiet_hours(local: time, quiet: tuple[time, time]) -> bool:
    start, end = quiet
    t = local.replace(tzinfo=None, fold=0)
    return start <= t < end if start <= end else (t >= start or t < end)


def next_slot(
    after: datetime,
    zone: str,
    local_time: time,
    *,
    days: frozenset[int] | None = None,
    quiet_hours: tuple[time, time] | None = None,
) -> datetime:
    """The first slot at or after `after`; quiet hours are checked on the wall time actually reached,
    because a gap can push a permitted time (e.g. 20:30 across Apia's lost day) into them."""
    _require_aware(after, "after")
    if days is not None and (not days or not days <= frozenset(range(7))):
        raise ValueError(f"days must be a non-empty set of weekdays 0..6, got: {sorted(days)}")
    if quiet_hours is not None and in_quiet_hours(local_time, quiet_hours):
        raise ValueError(f"local_time {local_time:%H:%M} lies in the quiet hours")
    # From the day before: a gap can move that day's slot onto the day of `after`.
    first = local_date_of(after, zone) - timedelta(days=1)
    for n in range(SEARCH_DAYS + 2):
        day = first + timedelta(days=n)
        if days is not None and day.weekday() not in days:
            continue
        at = slot_instant(day, local_time, zone)
        if at < after or (quiet_hours and in_quiet_hours(_wall(at, zone).time(), quiet_hours)):
            continue
        return at
    raise ValueError(f"no slot at {local_time:%H:%M} in {zone} within {SEARCH_DAYS} days of {after}")


def apply_late_policy(
    slot: datetime,
    now: datetime,
    policy: str,
    *,
    within: timedelta,
    zone: str,
    local_time: time,
    days: frozenset[int] | None = None,
    quiet_hours: tuple[time, time] | None = None,
) -> LateDecision:
    """What to do with a slot the planner reached too late (a long plan, a restart after downtime).

    send_now also honours quiet hours: a slot at 20:45 caught up at 21:10 would otherwise break them.
    """
    if policy not in LATE_POLICIES:
        raise ValueError(f"policy must be one of {', '.join(LATE_POLICIES)}, got: {policy!r}")
    if within < timedelta(0):
        raise ValueError(f"within must be non-negative, got: {within}")
    _require_aware(slot, "slot")
    _require_aware(now, "now")
    if slot >= now:
        return LateDecision(slot.astimezone(UTC), "on_time")
    if policy == "next_day":
        return LateDecision(next_slot(now, zone, local_time, days=days, quiet_hours=quiet_hours), "next_day")
    quiet_now = quiet_hours is not None and in_quiet_hours(_wall(now, zone).time(), quiet_hours)
    if policy == "send_if_within" and now - slot <= within and not quiet_now:
        return LateDecision(now.astimezone(UTC), "send_now")
    return LateDecision(None, "skip")


def quarter_hour_ceil(instant: datetime) -> datetime:
    """Mailchimp's campaign schedule accepts only :00, :15, :30 and :45 UTC; rounding down would send early."""
    _require_aware(instant, "instant")
    utc = instant.astimezone(UTC)
    floor = utc.replace(minute=utc.minute - utc.minute % 15, second=0, microsecond=0)
    return floor if floor == utc else floor + timedelta(minutes=15)


_TIME = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
_NUM = r"(\d+(?:\.\d+)?)"
_DURATION = re.compile(rf"(?:{_NUM}d)?(?:{_NUM}h)?(?:{_NUM}m)?(?:{_NUM}s)?")


def parse_local_time(text: str) -> time:
    match = _TIME.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"expected a 24-hour time as HH:MM (00:00 to 23:59), got: {text!r}")
    return time(int(match[1]), int(match[2]))


def parse_quiet_hours(text: str) -> tuple[time, time]:
    parts = text.split("-")
    if len(parts) != 2:
        raise ValueError(f"expected quiet hours as HH:MM-HH:MM (e.g. 21:00-08:00), got: {text!r}")
    start, end = parse_local_time(parts[0]), parse_local_time(parts[1])
    if start == end:
        raise ValueError(f"quiet hours must start and end at different times, got: {text!r}")
    return start, end


def parse_duration(text: str) -> timedelta:
    """How config files write durations ("2h", "1h30m", "0.5s"); one parser for every duration key."""
    match = _DURATION.fullmatch(text.strip())
    if match is None or not any(match.groups()):
        raise ValueError(f"expected a duration such as 2h, 30m, 90s, 1h30m or 1d, got: {text!r}")
    d, h, m, s = (float(g or 0) for g in match.groups())
    return timedelta(days=d, hours=h, minutes=m, seconds=s)


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive: {value}")
