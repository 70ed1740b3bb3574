"""Recipient zones and send slots: DST gaps and overlaps, odd offsets, the resolver chain, policies."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta, timezone
from functools import cache

import pytest
import pytz
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segmail.sending.timezones import (
    SEARCH_DAYS,
    TZ_SOURCES,
    LateDecision,
    ZoneChoice,
    ZoneResolver,
    apply_late_policy,
    canonical_zone,
    country_zone,
    in_quiet_hours,
    local_date_of,
    next_slot,
    parse_duration,
    parse_local_time,
    parse_quiet_hours,
    quarter_hour_ceil,
    slot_instant,
)
from segmail.sending.zone_tables import MAIN_ZONE, PROVINCE_ZONES, TERRITORY_COUNTRY


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- slot_instant: exact instants around real transitions --------------------------------------

EXACT = [
    # America/New_York 2026: spring forward 03-08 02:00 EST -> 03:00 EDT, fall back 11-01 02:00 EDT -> 01:00 EST
    ("America/New_York", date(2026, 3, 8), time(1, 59), utc(2026, 3, 8, 6, 59)),
    ("America/New_York", date(2026, 3, 8), time(2, 0), utc(2026, 3, 8, 7, 0)),  # gap -> transition
    ("America/New_York", date(2026, 3, 8), time(2, 30), utc(2026, 3, 8, 7, 0)),  # gap -> transition
    ("America/New_York", date(2026, 3, 8), time(3, 0), utc(2026, 3, 8, 7, 0)),
    ("America/New_York", date(2026, 11, 1), time(0, 59), utc(2026, 11, 1, 4, 59)),
    ("America/New_York", date(2026, 11, 1), time(1, 30), utc(2026, 11, 1, 5, 30)),  # first (EDT)
    ("America/New_York", date(2026, 11, 1), time(2, 0), utc(2026, 11, 1, 7, 0)),
    # Europe/London 2026: 03-29 01:00 GMT -> 02:00 BST, 10-25 02:00 BST -> 01:00 GMT
    ("Europe/London", date(2026, 3, 29), time(0, 59), utc(2026, 3, 29, 0, 59)),
    ("Europe/London", date(2026, 3, 29), time(1, 30), utc(2026, 3, 29, 1, 0)),
    ("Europe/London", date(2026, 3, 29), time(2, 0), utc(2026, 3, 29, 1, 0)),
    ("Europe/London", date(2026, 10, 25), time(1, 30), utc(2026, 10, 25, 0, 30)),  # first (BST)
    ("Europe/London", date(2026, 10, 25), time(2, 0), utc(2026, 10, 25, 2, 0)),
    # Australia/Sydney 2026: 04-05 03:00 AEDT -> 02:00 AEST, 10-04 02:00 AEST -> 03:00 AEDT
    ("Australia/Sydney", date(2026, 4, 5), time(2, 30), utc(2026, 4, 4, 15, 30)),  # first (AEDT)
    ("Australia/Sydney", date(2026, 4, 5), time(3, 0), utc(2026, 4, 4, 17, 0)),
    ("Australia/Sydney", date(2026, 10, 4), time(2, 30), utc(2026, 10, 3, 16, 0)),
    ("Australia/Sydney", date(2026, 10, 4), time(3, 0), utc(2026, 10, 3, 16, 0)),
    ("Australia/Sydney", date(2026, 10, 4), time(1, 59), utc(2026, 10, 3, 15, 59)),
    # half- and quarter-hour offsets
    ("Asia/Kolkata", date(2026, 6, 1), time(9, 0), utc(2026, 6, 1, 3, 30)),
    ("Asia/Kathmandu", date(2026, 6, 1), time(9, 0), utc(2026, 6, 1, 3, 15)),
    ("Pacific/Chatham", date(2026, 6, 1), time(9, 0), utc(2026, 5, 31, 20, 15)),  # +12:45
    ("Pacific/Chatham", date(2026, 1, 15), time(9, 0), utc(2026, 1, 14, 19, 15)),  # +13:45
    ("Pacific/Chatham", date(2026, 9, 27), time(3, 0), utc(2026, 9, 26, 14, 0)),  # 02:45 -> 03:45 gap
    ("Pacific/Chatham", date(2026, 4, 5), time(3, 0), utc(2026, 4, 4, 13, 15)),  # 03:45 -> 02:45, first
    # Lord Howe's DST is 30 minutes: 10-04 02:00 -> 02:30, 04-05 02:00 -> 01:30
    ("Australia/Lord_Howe", date(2026, 10, 4), time(2, 15), utc(2026, 10, 3, 15, 30)),
    ("Australia/Lord_Howe", date(2026, 4, 5), time(1, 45), utc(2026, 4, 4, 14, 45)),  # first (+11)
    # UTC+14: the local day starts at 10:00Z the day before
    ("Pacific/Kiritimati", date(2026, 6, 1), time(9, 0), utc(2026, 5, 31, 19, 0)),
    ("Pacific/Kiritimati", date(1994, 12, 31), time(9, 0), utc(1994, 12, 31, 10, 0)),  # day skipped
    # Samoa skipped 2011-12-30 entirely (-10 -> +14 at 2011-12-30 10:00Z)
    ("Pacific/Apia", date(2011, 12, 29), time(23, 45), utc(2011, 12, 30, 9, 45)),
    ("Pacific/Apia", date(2011, 12, 30), time(0, 0), utc(2011, 12, 30, 10, 0)),
    ("Pacific/Apia", date(2011, 12, 30), time(9, 0), utc(2011, 12, 30, 10, 0)),
    ("Pacific/Apia", date(2011, 12, 30), time(23, 59), utc(2011, 12, 30, 10, 0)),
    ("Pacific/Apia", date(2011, 12, 31), time(0, 0), utc(2011, 12, 30, 10, 0)),
    ("Pacific/Apia", date(2011, 12, 31), time(9, 0), utc(2011, 12, 30, 19, 0)),
    # fixed-offset zones
    ("UTC", date(2026, 6, 1), time(9, 0), utc(2026, 6, 1, 9, 0)),
    ("Etc/GMT+5", date(2026, 6, 1), time(9, 0), utc(2026, 6, 1, 14, 0)),
]


@pytest.mark.parametrize(("zone", "day", "at", "expected"), EXACT)
def test_slot_instant_exact(zone: str, day: date, at: time, expected: datetime) -> None:
    got = slot_instant(day, at, zone)
    assert got == expected
    assert got.tzinfo is UTC


def test_gap_shifted_slot_is_the_transition_instant() -> None:
    tz = pytz.timezone("America/New_York")
    transition = next(t for t in tz._utc_transition_times if t.year == 2026).replace(tzinfo=UTC)
    shifted = slot_instant(date(2026, 3, 8), time(2, 30), "America/New_York")
    assert shifted == transition
    assert shifted.astimezone(tz).strftime("%H:%M %Z") == "03:00 EDT"


def test_ambiguous_time_takes_the_first_occurrence() -> None:
    tz = pytz.timezone("Europe/London")
    first = slot_instant(date(2026, 10, 25), time(1, 30), "Europe/London")
    later = first + timedelta(hours=1)
    assert first.astimezone(tz).strftime("%H:%M %Z") == "01:30 BST"
    assert later.astimezone(tz).strftime("%H:%M %Z") == "01:30 GMT"


def test_slot_instant_accepts_lowercase_zone_and_rejects_unknown_or_aware_time() -> None:
    assert slot_instant(date(2026, 6, 1), time(9), "asia/kolkata") == utc(2026, 6, 1, 3, 30)
    with pytest.raises(ValueError, match="unknown time zone: 'Mars/Olympus'"):
        slot_instant(date(2026, 6, 1), time(9), "Mars/Olympus")
    with pytest.raises(ValueError, match="local_time must be a naive wall time"):
        slot_instant(date(2026, 6, 1), time(9, tzinfo=UTC), "UTC")


def test_local_date_of_is_a_day_ahead_in_kiritimati() -> None:
    assert local_date_of(utc(2026, 5, 31, 19, 0), "Pacific/Kiritimati") == date(2026, 6, 1)
    assert local_date_of(utc(2026, 5, 31, 10, 0), "Pacific/Kiritimati") == date(2026, 6, 1)
    assert local_date_of(utc(2026, 5, 31, 9, 59), "Pacific/Kiritimati") == date(2026, 5, 31)
    assert local_date_of(utc(2011, 12, 30, 10, 0), "Pacific/Apia") == date(2011, 12, 31)
    assert local_date_of(utc(2011, 12, 30, 9, 59), "Pacific/Apia") == date(2011, 12, 29)
    other = datetime(2026, 6, 1, 1, 0, tzinfo=timezone(timedelta(hours=2)))  # 2026-05-31 23:00Z
    assert local_date_of(other, "UTC") == date(2026, 5, 31)
    with pytest.raises(ValueError, match="must be timezone-aware"):
        local_date_of(datetime(2026, 6, 1), "UTC")


# --- slot_instant: every pytz zone --------------------------------------------------------------


@cache
def _offsets_ever(zone: str) -> frozenset[timedelta]:
    tz = pytz.timezone(zone)
    infos = getattr(tz, "_transition_info", None)
    return frozenset(i[0] for i in infos) if infos else frozenset({tz.utcoffset(None)})


@cache
def _transition_walls(zone: str) -> tuple[datetime, ...]:
    """Local wall times (old offset) of the zone's transitions in 1990-2037: where gaps and overlaps are."""
    tz = pytz.timezone(zone)
    starts = getattr(tz, "_utc_transition_times", ())
    offsets = [info[0] for info in getattr(tz, "_transition_info", ())]
    return tuple(t + offsets[i - 1] for i, t in enumerate(starts) if i and 1990 <= t.year <= 2037)


def _wall(instant: datetime, tz: pytz.BaseTzInfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None)


def check_slot(zone: str, day: date, at: time) -> None:
    """Oracle: pytz's own UTC -> local conversion, tried at every offset the zone ever used."""
    tz = pytz.timezone(zone)
    slot = slot_instant(day, at, zone)
    assert slot.tzinfo is UTC
    requested = datetime.combine(day, at)
    occurrences = sorted(
        u for o in _offsets_ever(zone) if _wall(u := (requested - o).replace(tzinfo=UTC), tz) == requested
    )
    if occurrences:
        assert slot == occurrences[0], (zone, requested, occurrences)
    else:  # in a gap: the first instant after it, which is where the offset changes
        assert _wall(slot - timedelta(minutes=1), tz) < requested < _wall(slot, tz), (zone, requested)
        assert (slot - timedelta(microseconds=1)).astimezone(tz).utcoffset() != slot.astimezone(
            tz
        ).utcoffset()


@st.composite
def zone_day_time(draw: st.DrawFn) -> tuple[str, date, time]:
    zone = draw(st.sampled_from(pytz.all_timezones))
    near = _transition_walls(zone)
    # Uniform draws almost never hit a gap, so half of them land within 2 hours of a transition.
    if near and draw(st.booleans()):
        base = draw(st.sampled_from(near))
        base -= timedelta(minutes=base.minute % 15, seconds=base.second)
        wall = base + timedelta(minutes=15 * draw(st.integers(-8, 8)))
        return zone, wall.date(), wall.time()
    day = draw(st.dates(date(1990, 1, 1), date(2037, 12, 31)))
    quarter = draw(st.integers(0, 95))
    return zone, day, time(quarter // 4, quarter % 4 * 15)


@pytest.mark.slow  # a property search: 6,000 cases
@settings(
    max_examples=6000,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(zone_day_time())
def test_slot_instant_property_every_zone(case: tuple[str, date, time]) -> None:
    check_slot(*case)


@pytest.mark.parametrize(
    "zone", ["Pacific/Apia", "Pacific/Kiritimati", "Australia/Lord_Howe", "Pacific/Chatham"]
)
def test_slot_instant_every_quarter_hour_around_every_transition(zone: str) -> None:
    for day in sorted({wall.date() for wall in _transition_walls(zone)}):
        for quarter in range(96):
            check_slot(zone, day, time(quarter // 4, quarter % 4 * 15))


def test_slot_instant_works_for_every_zone() -> None:
    for zone in pytz.all_timezones:
        days = [wall.date() for wall in _transition_walls(zone)[:2]] or [date(2026, 6, 1)]
        for day in days:
            for at in (time(0, 0), time(1, 30), time(2, 30), time(9, 0), time(23, 45)):
                check_slot(zone, day, at)


# --- ZoneResolver ---------------------------------------------------------------------------------

NONE = {
    "mc_timezone": None,
    "contact_timezone": None,
    "order_country": None,
    "order_province": None,
    "mc_country": None,
}


def resolver(reports: list[tuple[str, str]]) -> ZoneResolver:
    return ZoneResolver("Europe/Berlin", on_invalid=lambda source, value: reports.append((source, value)))


def test_resolver_chain_order() -> None:
    r = resolver(reports := [])
    full = {
        "mc_timezone": "America/Denver",
        "contact_timezone": "Europe/Paris",
        "order_country": "AU",
        "order_province": "WA",
        "mc_country": "JP",
    }
    assert r.resolve(**full) == ZoneChoice("America/Denver", "mailchimp")
    assert r.resolve(**full | {"mc_timezone": None}) == ZoneChoice("Europe/Paris", "contact")
    assert r.resolve(**full | {"mc_timezone": "", "contact_timezone": None}) == ZoneChoice(
        "Australia/Perth", "shop_address"
    )
    assert r.resolve(**NONE | {"mc_country": "JP"}) == ZoneChoice("Asia/Tokyo", "mailchimp_country")
    assert r.resolve(**NONE) == ZoneChoice("Europe/Berlin", "default")
    assert r.resolve(**NONE | {"order_province": "CA"}) == ZoneChoice("Europe/Berlin", "default")
    assert r.resolve(**dict.fromkeys(NONE, "  ")) == ZoneChoice("Europe/Berlin", "default")
    assert reports == []  # empty values skip silently
    assert {c.source for c in [ZoneChoice("UTC", s) for s in TZ_SOURCES]} == set(TZ_SOURCES)


def test_resolver_reports_each_invalid_value_once_and_continues() -> None:
    r = resolver(reports := [])
    for _ in range(3):
        choice = r.resolve(**NONE | {"mc_timezone": "America/New York", "contact_timezone": "Europe/Paris"})
        assert choice == ZoneChoice("Europe/Paris", "contact")
    assert r.resolve(**NONE | {"mc_timezone": "EST5EDT-ish", "contact_timezone": "America/New York"}) == (
        ZoneChoice("Europe/Berlin", "default")
    )
    assert r.resolve(**NONE | {"order_country": "XX", "mc_country": "ZZ"}) == ZoneChoice(
        "Europe/Berlin", "default"
    )
    assert r.resolve(**NONE | {"order_country": "XX", "mc_country": "nz"}) == ZoneChoice(
        "Pacific/Auckland", "mailchimp_country"
    )
    assert reports == [
        ("mailchimp", "America/New York"),
        ("mailchimp", "EST5EDT-ish"),
        ("contact", "America/New York"),
        ("shop_address", "XX"),
        ("mailchimp_country", "ZZ"),
    ]


def test_resolver_logs_invalid_values_by_default(caplog: pytest.LogCaptureFixture) -> None:
    r = ZoneResolver("UTC")
    with caplog.at_level(logging.WARNING, logger="segmail.send"):
        r.resolve(**NONE | {"mc_timezone": "Mars/Olympus"})
        r.resolve(**NONE | {"mc_timezone": "Mars/Olympus"})
    assert [rec.name for rec in caplog.records] == ["segmail.send"]
    assert "'Mars/Olympus'" in caplog.records[0].getMessage()


def test_resolver_matches_names_case_insensitively_and_nothing_fuzzier() -> None:
    r = resolver(reports := [])
    assert r.resolve(**NONE | {"mc_timezone": "america/new_york"}).zone == "America/New_York"
    assert r.resolve(**NONE | {"mc_timezone": " ASIA/KOLKATA "}).zone == "Asia/Kolkata"
    assert r.resolve(**NONE | {"mc_timezone": "US/Eastern"}).zone == "US/Eastern"  # an alias pytz accepts
    assert r.resolve(**NONE | {"mc_timezone": "Asia/Calcutta"}).zone == "Asia/Calcutta"
    for odd in ("America/New York", "New_York", "EST-5", "GMT+05:30"):
        assert r.resolve(**NONE | {"mc_timezone": odd}).source == "default"
    assert [value for _, value in reports] == ["America/New York", "New_York", "EST-5", "GMT+05:30"]
    assert canonical_zone("europe/LONDON") == "Europe/London"


def test_resolver_rejects_an_invalid_default() -> None:
    with pytest.raises(ValueError, match=r"default_timezone .* got: 'Europe/Atlantis'"):
        ZoneResolver("Europe/Atlantis")
    assert ZoneResolver("europe/berlin").resolve(**NONE) == ZoneChoice("Europe/Berlin", "default")


@pytest.mark.parametrize(
    ("country", "province", "zone"),
    [
        ("US", "CA", "America/Los_Angeles"),
        ("US", "US-CA", "America/Los_Angeles"),
        ("us", "us-ny", "America/New_York"),
        ("US", "NY", "America/New_York"),
        ("US", "AZ", "America/Phoenix"),
        ("US", "HI", "Pacific/Honolulu"),
        ("US", "IL", "America/Chicago"),
        ("US", "CO", "America/Denver"),
        ("US", "AK", "America/Anchorage"),
        ("US", "IN", "America/Indiana/Indianapolis"),
        ("US", "DC", "America/New_York"),
        ("US", "PR", "America/Puerto_Rico"),  # a territory filed as a state
        ("US", "GU", "Pacific/Guam"),
        ("US", None, "America/New_York"),
        ("US", "XX", "America/New_York"),  # unknown province: the main zone
        ("AU", "NSW", "Australia/Sydney"),
        ("AU", "AU-NSW", "Australia/Sydney"),
        ("AU", "wa", "Australia/Perth"),
        ("AU", "QLD", "Australia/Brisbane"),
        ("AU", "SA", "Australia/Adelaide"),
        ("AU", "NT", "Australia/Darwin"),
        ("CA", "ON", "America/Toronto"),
        ("CA", "BC", "America/Vancouver"),
        ("CA", "SK", "America/Regina"),
        ("CA", "NL", "America/St_Johns"),
        ("CA", "QC", "America/Toronto"),
        ("BR", "SP", "America/Sao_Paulo"),
        ("BR", "AM", "America/Manaus"),
        ("BR", "BA", "America/Bahia"),
        ("MX", "CMX", "America/Mexico_City"),
        ("MX", "DF", "America/Mexico_City"),
        ("MX", "JAL", "America/Mexico_City"),
        ("MX", "NLE", "America/Monterrey"),
        ("MX", "BCN", "America/Tijuana"),
        ("MX", "SON", "America/Hermosillo"),
        ("MX", "ROO", "America/Cancun"),
        ("ES", "TF", "Atlantic/Canary"),
        ("ES", "M", "Europe/Madrid"),
        ("NZ", "CIT", "Pacific/Chatham"),
        ("PT", "PT-20", "Atlantic/Azores"),
        ("FR", "IDF", "Europe/Paris"),  # single-zone country: province ignored
    ],
)
def test_shop_address_province_picking(country: str, province: str | None, zone: str) -> None:
    r = resolver(reports := [])
    assert r.resolve(**NONE | {"order_country": country, "order_province": province}) == ZoneChoice(
        zone, "shop_address"
    )
    assert reports == []


@pytest.mark.parametrize(
    ("country", "zone"),
    [
        ("CA", "America/Toronto"),  # pytz lists America/St_Johns first
        ("AU", "Australia/Sydney"),  # not Australia/Lord_Howe
        ("RU", "Europe/Moscow"),  # not Europe/Kaliningrad
        ("US", "America/New_York"),
        ("BR", "America/Sao_Paulo"),  # not America/Noronha
        ("ID", "Asia/Jakarta"),
        ("fr", "Europe/Paris"),
        ("JP", "Asia/Tokyo"),
    ],
)
def test_country_main_zone(country: str, zone: str) -> None:
    assert resolver([]).resolve(**NONE | {"mc_country": country}) == ZoneChoice(zone, "mailchimp_country")
    assert country_zone(country) == zone


def test_unknown_country_codes() -> None:
    for code in ("XX", "USA", "U", "UK", "--"):
        assert country_zone(code) is None


# --- the curated tables ---------------------------------------------------------------------------


def test_main_zone_table_is_valid_and_complete() -> None:
    for cc, zone in MAIN_ZONE.items():
        assert zone in pytz.all_timezones_set, (cc, zone)
        assert zone in pytz.country_timezones[cc], (cc, zone)
    # A pytz upgrade that adds a multi-zone country fails here, so someone picks its main zone.
    multi = {cc for cc, zones in pytz.country_timezones.items() if len(zones) > 1}
    assert multi - MAIN_ZONE.keys() == set()


def test_province_tables_are_valid() -> None:
    for cc, table in PROVINCE_ZONES.items():
        for sub, zone in table.items():
            assert zone in pytz.all_timezones_set, (cc, sub, zone)
            assert zone in pytz.country_timezones[cc], (cc, sub, zone)
            assert sub == sub.upper().strip(), (cc, sub)
    for cc, territories in TERRITORY_COUNTRY.items():
        for sub, territory in territories.items():
            assert territory in pytz.country_timezones, (cc, sub)
            assert sub not in PROVINCE_ZONES.get(cc, {})
    assert len(PROVINCE_ZONES["US"]) == 51  # 50 states and DC
    assert len(PROVINCE_ZONES["CA"]) == 13
    assert len(PROVINCE_ZONES["AU"]) == 8
    assert len(PROVINCE_ZONES["BR"]) == 27
    assert len({z for z in PROVINCE_ZONES["MX"]} & {"AGU", "BCN", "CMX", "YUC", "ZAC"}) == 5


# --- next_slot ------------------------------------------------------------------------------------

NY = "America/New_York"  # 2026-06-01 is a Monday; 09:00 EDT is 13:00Z


def test_next_slot_same_day_next_day_and_exact() -> None:
    assert next_slot(utc(2026, 6, 1, 10), NY, time(9)) == utc(2026, 6, 1, 13)
    assert next_slot(utc(2026, 6, 1, 13), NY, time(9)) == utc(2026, 6, 1, 13)
    assert next_slot(utc(2026, 6, 1, 13, 0, 1), NY, time(9)) == utc(2026, 6, 2, 13)
    assert next_slot(utc(2026, 6, 2, 3), NY, time(9)) == utc(2026, 6, 2, 13)  # still June 1st in NY


def test_next_slot_allowed_days() -> None:
    assert next_slot(utc(2026, 6, 1, 10), NY, time(9), days=frozenset({5, 6})) == utc(2026, 6, 6, 13)
    assert next_slot(utc(2026, 6, 1, 14), NY, time(9), days=frozenset({0})) == utc(2026, 6, 8, 13)
    with pytest.raises(ValueError, match=r"days must be a non-empty set of weekdays 0\.\.6"):
        next_slot(utc(2026, 6, 1), NY, time(9), days=frozenset())
    with pytest.raises(ValueError, match="days must be"):
        next_slot(utc(2026, 6, 1), NY, time(9), days=frozenset({7}))


def test_next_slot_across_a_gap() -> None:
    after = utc(2026, 3, 7, 12)
    assert next_slot(after, NY, time(2, 30), days=frozenset({6})) == utc(2026, 3, 8, 7, 0)  # 03:00 EDT
    # the gap pushes 02:30 to 03:00, inside 03:00-04:00 quiet hours: the next day instead
    quiet = (time(3), time(4))
    assert next_slot(after, NY, time(2, 30), quiet_hours=quiet) == utc(2026, 3, 9, 6, 30)  # 02:30 EDT
    assert next_slot(utc(2026, 3, 8), NY, time(2, 30)) == utc(2026, 3, 8, 7, 0)


def test_next_slot_apia_lost_day() -> None:
    apia = "Pacific/Apia"
    after = utc(2011, 12, 29, 21)  # 11:00 on the 29th, local
    assert next_slot(after, apia, time(9)) == utc(2011, 12, 30, 10)  # the 30th's slot: 00:00 on the 31st
    night = (time(21), time(8))
    assert next_slot(after, apia, time(9), quiet_hours=night) == utc(2011, 12, 30, 19)  # 09:00 on the 31st
    # `after` is already the 31st locally, but the 30th's shifted slot is still due
    assert next_slot(utc(2011, 12, 30, 10), apia, time(9)) == utc(2011, 12, 30, 10)


def test_next_slot_rejects_a_time_in_quiet_hours_and_naive_after() -> None:
    with pytest.raises(ValueError, match="local_time 22:00 lies in the quiet hours"):
        next_slot(utc(2026, 6, 1), NY, time(22), quiet_hours=(time(21), time(8)))
    with pytest.raises(ValueError, match="after must be timezone-aware"):
        next_slot(datetime(2026, 6, 1), NY, time(9))
    assert SEARCH_DAYS == 14


def test_in_quiet_hours() -> None:
    night, lunch = (time(21), time(8)), (time(12), time(13))
    assert in_quiet_hours(time(21), night)
    assert in_quiet_hours(time(23, 59), night)
    assert in_quiet_hours(time(0), night)
    assert in_quiet_hours(time(7, 59), night)
    assert not in_quiet_hours(time(8), night)
    assert not in_quiet_hours(time(20, 59), night)
    assert in_quiet_hours(time(12), lunch)
    assert not in_quiet_hours(time(13), lunch)
    assert not in_quiet_hours(time(11, 59), lunch)


# --- late policy ----------------------------------------------------------------------------------

SLOT = utc(2026, 6, 1, 13)  # 09:00 in New York
WITHIN = timedelta(hours=1)


def late(now: datetime, policy: str, **kw: object) -> LateDecision:
    return apply_late_policy(SLOT, now, policy, within=WITHIN, zone=NY, local_time=time(9), **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("policy", ["send_if_within", "next_day", "skip"])
def test_late_policy_on_time(policy: str) -> None:
    assert late(SLOT, policy) == LateDecision(SLOT, "on_time")
    assert late(SLOT - timedelta(hours=5), policy) == LateDecision(SLOT, "on_time")


def test_late_policy_send_if_within() -> None:
    assert late(SLOT + timedelta(minutes=30), "send_if_within") == LateDecision(
        SLOT + timedelta(minutes=30), "send_now"
    )
    assert late(SLOT + WITHIN, "send_if_within") == LateDecision(SLOT + WITHIN, "send_now")
    assert late(SLOT + WITHIN + timedelta(seconds=1), "send_if_within") == LateDecision(None, "skip")
    # caught up at 09:30 local, but 09:15-10:00 is quiet: never send in quiet hours
    quiet = (time(9, 15), time(10))
    assert late(SLOT + timedelta(minutes=30), "send_if_within", quiet_hours=quiet) == LateDecision(
        None, "skip"
    )


def test_late_policy_next_day_and_skip() -> None:
    assert late(SLOT + timedelta(minutes=1), "next_day") == LateDecision(utc(2026, 6, 2, 13), "next_day")
    assert late(SLOT + timedelta(minutes=1), "next_day", days=frozenset({4})) == LateDecision(
        utc(2026, 6, 5, 13), "next_day"
    )
    assert late(SLOT + timedelta(minutes=1), "skip") == LateDecision(None, "skip")


def test_late_policy_rejects_bad_input() -> None:
    with pytest.raises(
        ValueError, match="policy must be one of send_if_within, next_day, skip, got: 'later'"
    ):
        late(SLOT, "later")
    with pytest.raises(ValueError, match="within must be non-negative"):
        apply_late_policy(SLOT, SLOT, "skip", within=-WITHIN, zone=NY, local_time=time(9))
    with pytest.raises(ValueError, match="now must be timezone-aware"):
        late(datetime(2026, 6, 1), "skip")
    with pytest.raises(ValueError, match="send_at must be None exactly when action is 'skip'"):
        LateDecision(None, "send_now")
    with pytest.raises(ValueError, match="source must be one of"):
        ZoneChoice("UTC", "guess")


# --- quarter hours and parsing --------------------------------------------------------------------


def test_quarter_hour_ceil() -> None:
    assert quarter_hour_ceil(utc(2026, 6, 1, 12, 0)) == utc(2026, 6, 1, 12, 0)
    assert quarter_hour_ceil(utc(2026, 6, 1, 12, 45)) == utc(2026, 6, 1, 12, 45)
    assert quarter_hour_ceil(utc(2026, 6, 1, 12, 0, 1)) == utc(2026, 6, 1, 12, 15)
    assert quarter_hour_ceil(datetime(2026, 6, 1, 12, 0, 0, 1, tzinfo=UTC)) == utc(2026, 6, 1, 12, 15)
    assert quarter_hour_ceil(utc(2026, 6, 1, 12, 44, 59)) == utc(2026, 6, 1, 12, 45)
    assert quarter_hour_ceil(utc(2026, 12, 31, 23, 50)) == utc(2027, 1, 1, 0, 0)
    kolkata = datetime(2026, 6, 1, 9, 0, tzinfo=timezone(timedelta(hours=5, minutes=30)))  # 03:30Z
    assert quarter_hour_ceil(kolkata) == utc(2026, 6, 1, 3, 30)
    assert quarter_hour_ceil(kolkata).tzinfo is UTC
    with pytest.raises(ValueError, match="instant must be timezone-aware"):
        quarter_hour_ceil(datetime(2026, 6, 1))


def test_parse_local_time() -> None:
    assert parse_local_time("09:30") == time(9, 30)
    assert parse_local_time(" 9:05 ") == time(9, 5)
    assert parse_local_time("23:59") == time(23, 59)
    assert parse_local_time("00:00") == time(0, 0)
    for bad in ("24:00", "9", "09:60", "9:5", "09:30:00", "9am", "", "09.30"):
        with pytest.raises(ValueError, match=r"expected a 24-hour time as HH:MM .*got: "):
            parse_local_time(bad)


def test_parse_quiet_hours() -> None:
    assert parse_quiet_hours("21:00-08:00") == (time(21), time(8))
    assert parse_quiet_hours("12:00 - 13:30") == (time(12), time(13, 30))
    with pytest.raises(ValueError, match="expected quiet hours as HH:MM-HH:MM"):
        parse_quiet_hours("21:00")
    with pytest.raises(ValueError, match="expected a 24-hour time"):
        parse_quiet_hours("21:00-25:00")
    with pytest.raises(ValueError, match="must start and end at different times"):
        parse_quiet_hours("08:00-08:00")


def test_parse_duration() -> None:
    assert parse_duration("2h") == timedelta(hours=2)
    assert parse_duration("30m") == timedelta(minutes=30)
    assert parse_duration("90s") == timedelta(seconds=90)
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("1d") == timedelta(days=1)
    assert parse_duration("1d2h3m4s") == timedelta(days=1, hours=2, minutes=3, seconds=4)
    assert parse_duration("0m") == timedelta(0)
    assert parse_duration("1.5h") == timedelta(minutes=90)
    assert parse_duration("0.2s") == timedelta(milliseconds=200)
    for bad in ("", "2", "h", "30m1h", "1.5.0h", "-1h", "2 h", "2H", "1w"):
        with pytest.raises(ValueError, match=r"expected a duration such as 2h, 30m.*got: "):
            parse_duration(bad)
