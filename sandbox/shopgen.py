"""Seeded generator of a realistic e-shop (contacts, orders, engagement events) as streamed CSV files."""

from __future__ import annotations

import csv
import hashlib
import math
import os
import random
from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from itertools import combinations
from pathlib import Path
from typing import Final

__all__ = [
    "CATEGORIES",
    "CONTACT_COLUMNS",
    "EVENT_COLUMNS",
    "ORDER_COLUMNS",
    "ShopFiles",
    "generate_increment",
    "generate_shop",
]

CONTACT_COLUMNS: Final = (
    "email",
    "status",
    "opted_in_at",
    "timezone",
    "country",
    "language",
    "first_name",
    "last_name",
)
ORDER_COLUMNS: Final = (
    "order_id",
    "email",
    "created_at",
    "total",
    "currency",
    "status",
    "refunded",
    "categories",
)
EVENT_COLUMNS: Final = ("email", "type", "at", "campaign_id")
CATEGORIES: Final = ("boots", "sandals", "coats", "t-shirts", "swimwear", "accessories", "scarves", "gloves")

_NAMESPACE: Final = "segmail-shopgen/v1"
_MIN_AS_OF: Final = datetime(2000, 1, 1, tzinfo=UTC)
_DAY: Final = 86_400
_WEEK: Final = 7 * _DAY
_YEAR: Final = 365 * _DAY
_SIGNUP_SPAN: Final = 3 * _YEAR
_CAMPAIGNS: Final = 150
_FIRST_ORDER_NUMBER: Final = 100_001
# Hard cap per buyer so the highest possible base order number is known without generating the base,
# which is what lets an increment pick order numbers that can never collide with it.
_MAX_ORDERS_PER_BUYER: Final = 60
_MAX_MESSY: Final = 20
_TABLE: Final = 1024  # size of the precomputed lookup tables that replace per-row distribution calls

# Mean rows per contact of a base shop (measured over 200k-contact shops); an increment is sized from
# these so it does not have to generate the base to know how big "1 %" is.
_ORDERS_PER_CONTACT: Final = 1.4
_EVENTS_PER_CONTACT: Final = 3.0

_Name = tuple[str, str]  # (as written in the name column, ASCII form used in the email)

_NAMES: Final[dict[str, tuple[tuple[tuple[_Name, ...], tuple[_Name, ...]], ...]]] = {
    "de": (
        (
            (("Anna", "anna"), ("Jürgen", "juergen"), ("Lena", "lena"), ("Lukas", "lukas"),
             ("Sophie", "sophie"), ("Maximilian", "maximilian"), ("Katrin", "katrin"), ("Jörg", "joerg"),
             ("Björn", "bjoern"), ("Greta", "greta"), ("Felix", "felix"), ("Hannah", "hannah")),
            (("Müller", "mueller"), ("Schmidt", "schmidt"), ("Schneider", "schneider"),
             ("Fischer", "fischer"), ("Weber", "weber"), ("Meyer", "meyer"), ("Wagner", "wagner"),
             ("Becker", "becker"), ("Schäfer", "schaefer"), ("Koch", "koch"), ("Groß", "gross"),
             ("Hoffmann", "hoffmann")),
        ),
    ),
    "en": (
        (
            (("Emma", "emma"), ("Oliver", "oliver"), ("Liam", "liam"), ("Olivia", "olivia"),
             ("Noah", "noah"), ("Ava", "ava"), ("James", "james"), ("Charlotte", "charlotte"),
             ("Jack", "jack"), ("Amelia", "amelia"), ("Ethan", "ethan"), ("Mia", "mia")),
            (("Smith", "smith"), ("Jones", "jones"), ("Williams", "williams"), ("Brown", "brown"),
             ("Taylor", "taylor"), ("Wilson", "wilson"), ("Johnson", "johnson"), ("O'Brien", "obrien"),
             ("Davies", "davies"), ("Evans", "evans"), ("Clarke", "clarke"), ("McAllister", "mcallister")),
        ),
    ),
    "fr": (
        (
            (("Léa", "lea"), ("Chloé", "chloe"), ("Hugo", "hugo"), ("Louis", "louis"), ("Manon", "manon"),
             ("Théo", "theo"), ("Camille", "camille"), ("Zoé", "zoe"), ("Jérôme", "jerome"),
             ("Élodie", "elodie"), ("Mathis", "mathis"), ("Inès", "ines")),
            (("Martin", "martin"), ("Bernard", "bernard"), ("Dubois", "dubois"), ("Thomas", "thomas"),
             ("Robert", "robert"), ("Petit", "petit"), ("Durand", "durand"), ("Lefèvre", "lefevre"),
             ("Leroy", "leroy"), ("Moreau", "moreau"), ("Girard", "girard"), ("Roux", "roux")),
        ),
    ),
    "in": (
        (
            (("Aarav", "aarav"), ("Priya", "priya"), ("Rohan", "rohan"), ("Ananya", "ananya"),
             ("Vikram", "vikram"), ("Diya", "diya"), ("Arjun", "arjun"), ("Kavya", "kavya"),
             ("Sita", "sita"), ("Ramesh", "ramesh"), ("Bikash", "bikash"), ("Anjali", "anjali")),
            (("Sharma", "sharma"), ("Patel", "patel"), ("Gupta", "gupta"), ("Singh", "singh"),
             ("Iyer", "iyer"), ("Reddy", "reddy"), ("Shrestha", "shrestha"), ("Gurung", "gurung"),
             ("Thapa", "thapa"), ("Rai", "rai"), ("Nair", "nair"), ("Das", "das")),
        ),
    ),
    "uz": (
        (
            (("Aziz", "aziz"), ("Dilnoza", "dilnoza"), ("Timur", "timur"), ("Malika", "malika"),
             ("Jasur", "jasur"), ("Nilufar", "nilufar"), ("Sardor", "sardor"), ("Madina", "madina"),
             ("Bekzod", "bekzod"), ("Gulnora", "gulnora"), ("O\u02bbtkir", "otkir"),
             ("Shahzoda", "shahzoda")),
            (("Karimov", "karimov"), ("Aliyeva", "aliyeva"), ("Rakhimov", "rakhimov"),
             ("Yusupova", "yusupova"), ("Umarov", "umarov"), ("Nazarova", "nazarova"),
             ("Tursunov", "tursunov"), ("Ismoilova", "ismoilova"), ("Abdullayev", "abdullayev"),
             ("Saidova", "saidova"), ("Mirzayev", "mirzayev"), ("G\u02bbulomov", "gulomov")),
        ),
    ),
    # Japanese customers write their name in romaji or in kanji; the script is chosen per contact.
    "ja": (
        (
            (("Yuki", "yuki"), ("Haruto", "haruto"), ("Sakura", "sakura"), ("Yui", "yui"), ("Ren", "ren"),
             ("Misaki", "misaki"), ("Sota", "sota"), ("Hina", "hina"), ("Hiroto", "hiroto"),
             ("Aoi", "aoi"), ("Kaito", "kaito"), ("Mei", "mei")),
            (("Sato", "sato"), ("Suzuki", "suzuki"), ("Takahashi", "takahashi"), ("Tanaka", "tanaka"),
             ("Watanabe", "watanabe"), ("Ito", "ito"), ("Yamamoto", "yamamoto"), ("Nakamura", "nakamura"),
             ("Kobayashi", "kobayashi"), ("Kato", "kato"), ("Yoshida", "yoshida"), ("Yamada", "yamada")),
        ),
        (
            (("雪", "yuki"), ("陽翔", "haruto"), ("さくら", "sakura"), ("結衣", "yui"), ("蓮", "ren"),
             ("美咲", "misaki"), ("颯太", "sota"), ("陽菜", "hina"), ("大翔", "hiroto"), ("葵", "aoi"),
             ("海斗", "kaito"), ("芽依", "mei")),
            (("佐藤", "sato"), ("鈴木", "suzuki"), ("高橋", "takahashi"), ("田中", "tanaka"),
             ("渡辺", "watanabe"), ("伊藤", "ito"), ("山本", "yamamoto"), ("中村", "nakamura"),
             ("小林", "kobayashi"), ("加藤", "kato"), ("吉田", "yoshida"), ("山田", "yamada")),
        ),
    ),
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Region:
    tz: str
    country: str
    language: str
    other_language: str  # what the minority of the region's contacts pick instead
    other_share: float
    offset: str  # the zone's standard UTC offset, used for the shop-local order times
    offset_s: int
    south: bool  # seasons are flipped, which changes what people buy in a given month
    names: str
    weight: int  # per mille of contacts


def _region(tz: str, country: str, lang: str, other: str, share: float, minutes: int, names: str,
            weight: int, *, south: bool = False) -> _Region:  # fmt: skip
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return _Region(tz, country, lang, other, share, f"{sign}{hours:02d}:{mins:02d}", minutes * 60,
                   south, names, weight)  # fmt: skip


# Standard offsets, not tzdata: the output must be byte-identical on machines with different tzdata,
# and any fixed offset is still a correct spelling of the same instant.
_REGIONS: Final = (
    _region("Europe/Berlin", "DE", "de", "en", 0.10, 60, "de", 300),
    _region("Europe/Vienna", "AT", "de", "en", 0.08, 60, "de", 30),
    _region("Europe/Zurich", "CH", "de", "fr", 0.25, 60, "de", 20),
    _region("Europe/London", "GB", "en", "de", 0.02, 0, "en", 113),
    _region("Europe/Paris", "FR", "fr", "en", 0.12, 60, "fr", 70),
    _region("America/New_York", "US", "en", "fr", 0.01, -300, "en", 90),
    _region("America/Chicago", "US", "en", "de", 0.01, -360, "en", 30),
    _region("America/Los_Angeles", "US", "en", "ja", 0.02, -480, "en", 50),
    _region("America/Toronto", "CA", "en", "fr", 0.25, -300, "en", 25),
    _region("America/St_Johns", "CA", "en", "fr", 0.05, -210, "en", 10),
    _region("Australia/Sydney", "AU", "en", "de", 0.02, 600, "en", 45, south=True),
    _region("Australia/Adelaide", "AU", "en", "de", 0.02, 570, "en", 15, south=True),
    _region("Pacific/Auckland", "NZ", "en", "de", 0.02, 720, "en", 15, south=True),
    _region("Pacific/Chatham", "NZ", "en", "de", 0.02, 765, "en", 3, south=True),
    _region("Asia/Kolkata", "IN", "en", "en", 0.0, 330, "in", 60),
    _region("Asia/Kathmandu", "NP", "en", "en", 0.0, 345, "in", 12),
    _region("Asia/Tashkent", "UZ", "uz", "en", 0.25, 300, "uz", 50),
    _region("Asia/Tokyo", "JP", "ja", "en", 0.10, 540, "ja", 60),
    _region("Pacific/Kiritimati", "KI", "en", "en", 0.0, 840, "en", 2, south=True),
)
_REGION_OF: Final = tuple(r for r in _REGIONS for _ in range(r.weight))
assert len(_REGION_OF) == 1000

_CONTACT_STATUSES: Final = (
    ("subscribed", 70),
    ("unsubscribed", 12),
    ("cleaned", 5),
    ("pending", 4),
    ("transactional", 5),
    ("archived", 4),
)
_STATUS_OF: Final = tuple(s for s, pct in _CONTACT_STATUSES for _ in range(pct))
# Share of each status that ever bought: transactional contacts exist because they ordered.
_BUYER_SHARE: Final = {
    "subscribed": 0.43,
    "unsubscribed": 0.50,
    "cleaned": 0.30,
    "pending": 0.10,
    "transactional": 0.95,
    "archived": 0.45,
}
_ORDER_STATUSES: Final = (
    ("completed", 50),
    ("paid", 30),
    ("processing", 7),
    ("partially_refunded", 4),
    ("refunded", 3),
    ("cancelled", 4),
    ("pending", 2),
)
_ORDER_STATUS_OF: Final = tuple(s for s, pct in _ORDER_STATUSES for _ in range(pct))
# Orders of the last 24 hours have not been fulfilled or refunded yet.
_FRESH_ORDER_STATUS_OF: Final = tuple(
    s for s, pct in (("paid", 55), ("processing", 30), ("pending", 10), ("cancelled", 5)) for _ in range(pct)
)
_DOMAIN_OF: Final = ("example.com",) * 60 + ("example.org",) * 25 + ("example.net",) * 15
_SEASON_WEIGHTS: Final = (  # boots, sandals, coats, t-shirts, swimwear, accessories, scarves, gloves
    (3.0, 0.3, 3.0, 1.0, 0.2, 1.5, 2.0, 2.0),  # winter
    (1.5, 1.0, 1.0, 2.0, 0.7, 1.5, 0.7, 0.4),  # spring
    (0.3, 3.0, 0.2, 3.0, 3.0, 1.5, 0.2, 0.1),  # summer
    (2.5, 0.5, 2.0, 1.5, 0.3, 1.5, 1.5, 1.0),  # autumn
)
_BASKET_SIZES: Final = ((1, 0.6), (2, 0.3), (3, 0.1))
_MASK64: Final = (1 << 64) - 1


class _Rows:
    """One CSV file written through a temporary name, so readers never see a half-written file."""

    def __init__(self, path: Path, header: tuple[str, ...]) -> None:
        self.path = path
        self._tmp = path.with_name(f".{path.name}.tmp")
        self._file = open(self._tmp, "w", encoding="utf-8", newline="", buffering=1 << 20)  # noqa: SIM115
        self._writer = csv.writer(self._file, lineterminator="\n")
        self._writer.writerow(header)
        self.row: Callable[[Iterable[str]], object] = self._writer.writerow
        self.rows: Callable[[Iterable[Iterable[str]]], object] = self._writer.writerows

    def commit(self) -> None:
        self._file.close()
        os.replace(self._tmp, self.path)

    def abandon(self) -> None:
        self._file.close()
        self._tmp.unlink(missing_ok=True)


@dataclass(frozen=True, kw_only=True)
class ShopFiles:
    """Where the generated files are; `contacts` is None for an increment, which has no contacts file."""

    contacts: Path | None
    orders: Path
    events: Path
    counts: dict[str, int]  # data rows written per file (header excluded, malformed rows included)


def generate_shop(
    out_dir: Path, *, contacts: int, seed: int, as_of: datetime, messy_rows: bool = False
) -> ShopFiles:
    """Write contacts.csv, orders.csv and events.csv of a shop as it stands at `as_of`.

    Rows are streamed, so memory stays flat however many contacts are asked for. The same arguments
    always give the same bytes, which is what lets tests and benchmarks compare runs.
    `messy_rows` adds a few malformed rows (never more than 20 per file) so an importer's error report
    has something to show; they come from their own random stream, so the well-formed rows are
    exactly those of the same shop without them, bar order numbers after the first malformed order.
    """
    as_ts = _epoch(as_of)
    if contacts < 0:
        raise ValueError(f"contacts must be 0 or more, got {contacts}")
    out_dir.mkdir(parents=True, exist_ok=True)
    files = [
        _Rows(out_dir / "contacts.csv", CONTACT_COLUMNS),
        _Rows(out_dir / "orders.csv", ORDER_COLUMNS),
        _Rows(out_dir / "events.csv", EVENT_COLUMNS),
    ]
    try:
        counts = _write_base(*files, contacts=contacts, seed=seed, as_ts=as_ts, messy=messy_rows)
    except BaseException:
        for f in files:
            f.abandon()
        raise
    for f in files:
        f.commit()
    return ShopFiles(contacts=files[0].path, orders=files[1].path, events=files[2].path, counts=counts)


def generate_increment(
    out_dir: Path, *, contacts: int, seed: int, as_of: datetime, fraction: float = 0.01
) -> ShopFiles:
    """Write the orders and events of the 24 hours before `as_of` for the shop of `seed`/`contacts`.

    The contacts' emails are a pure function of (seed, contact number), so the increment refers to
    the same people as `generate_shop` without reading its files. Its size is `fraction` of the
    base's expected orders and events. Order numbers start above anything the base can hold and are
    spaced by day, so increments for different days never collide with the base or with each other.
    """
    as_ts = _epoch(as_of)
    if contacts < 0:
        raise ValueError(f"contacts must be 0 or more, got {contacts}")
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    out_dir.mkdir(parents=True, exist_ok=True)
    orders = _Rows(out_dir / "orders.csv", ORDER_COLUMNS)
    events = _Rows(out_dir / "events.csv", EVENT_COLUMNS)
    try:
        counts = _write_increment(
            orders, events, contacts=contacts, seed=seed, as_ts=as_ts, fraction=fraction
        )
    except BaseException:
        orders.abandon()
        events.abandon()
        raise
    orders.commit()
    events.commit()
    return ShopFiles(contacts=None, orders=orders.path, events=events.path, counts=counts)


def _epoch(as_of: datetime) -> int:
    """Whole seconds, rounded down, so every generated time is <= as_of even with microseconds."""
    if as_of.tzinfo is None or as_of.utcoffset() is None:
        raise ValueError("as_of must be timezone-aware (e.g. datetime(..., tzinfo=UTC))")
    if as_of < _MIN_AS_OF:
        raise ValueError("as_of must be 2000-01-01 or later")
    return math.floor(as_of.timestamp())


def _seed_key(seed: int) -> int:
    """64 bits from the seed via SHA-256, so nearby seeds (and -n vs n) give unrelated shops."""
    digest = hashlib.sha256(f"{_NAMESPACE}/{seed}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _rng(seed: int, stream: str) -> random.Random:
    # String seeds go through SHA-512 in random.Random, stable across platforms and Python versions.
    return random.Random(f"{_NAMESPACE}/{seed}/{stream}")


def _mix(x: int) -> int:
    """splitmix64's finaliser: a bijection on 64 bits, so distinct contact numbers never share bits."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


_Identity = tuple[str, str, str, _Region, str, int]


def _identity(key: int, i: int) -> _Identity:
    """Email, names, region, status and engagement of contact `i`: a pure function of (seed, i).

    The local part ends in the contact number after a name that ends in a letter, so emails are
    unique by construction; guests' emails contain "_", which no contact's does.
    """
    h = _mix(key ^ i)
    h, r = divmod(h, 1000)
    region = _REGION_OF[r]
    variants = _NAMES[region.names]
    h, v = divmod(h, len(variants))
    firsts, lasts = variants[v]
    h, f = divmod(h, len(firsts))
    h, la = divmod(h, len(lasts))
    h, d = divmod(h, 100)
    h, style = divmod(h, 100)
    h, s = divmod(h, 100)
    engagement = h % 100
    first, first_ascii = firsts[f]
    last, last_ascii = lasts[la]
    n = i + 1
    if style < 55:
        local = f"{first_ascii}.{last_ascii}{n}"
    elif style < 70:
        local = f"{first_ascii}{last_ascii}{n}"
    elif style < 85:
        local = f"{first_ascii[0]}.{last_ascii}{n}"
    else:
        local = f"{first_ascii}{n}"
    # Contact 0 is a fresh, engaged subscriber so that even a tiny shop has a welcome segment.
    status = "subscribed" if i == 0 else _STATUS_OF[s]
    return f"{local}@{_DOMAIN_OF[d]}", first, last, region, status, 99 if i == 0 else engagement


class _Clock:
    """ISO 8601 strings from epoch seconds by table lookup: datetime objects per row cost too much."""

    def __init__(self, as_ts: int) -> None:
        self.day0 = as_ts // _DAY - _SIGNUP_SPAN // _DAY - 366 - 8
        end = as_ts // _DAY + 2  # local times run up to 14 hours ahead of UTC
        epoch = date(1970, 1, 1).toordinal()
        dates = [date.fromordinal(epoch + d) for d in range(self.day0, end + 1)]
        self.days = [d.isoformat() for d in dates]
        self.season = [(d.month % 12) // 3 for d in dates]  # 0 winter, 1 spring, 2 summer, 3 autumn
        self.hm = [f"T{h:02d}:{m:02d}:" for h in range(24) for m in range(60)]
        self.sz = [f"{s:02d}Z" for s in range(60)]
        self.ss = [f"{s:02d}" for s in range(60)]

    def utc(self, ts: int) -> str:
        d, s = divmod(ts, _DAY)
        m, s = divmod(s, 60)
        return self.days[d - self.day0] + self.hm[m] + self.sz[s]

    def local(self, ts: int, region: _Region) -> str:
        d, s = divmod(ts + region.offset_s, _DAY)
        m, s = divmod(s, 60)
        return self.days[d - self.day0] + self.hm[m] + self.ss[s] + region.offset


def _quantile_table(items: list[tuple[str, float]]) -> tuple[str, ...]:
    """A _TABLE-long lookup where each item fills its share: one random() picks a weighted item."""
    total = sum(w for _, w in items)
    cum: list[float] = []
    acc = 0.0
    for _, w in items:
        acc += w
        cum.append(acc / total)
    return tuple(items[min(bisect_right(cum, (j + 0.5) / _TABLE), len(items) - 1)][0] for j in range(_TABLE))


def _basket_tables() -> tuple[tuple[str, ...], ...]:
    """Per season, the joined category strings of 1-3 item baskets weighted by what sells then."""
    tables = []
    for weights in _SEASON_WEIGHTS:
        items: list[tuple[str, float]] = []
        for size, share in _BASKET_SIZES:
            combos = list(combinations(range(len(CATEGORIES)), size))
            scores = [math.prod(weights[c] for c in combo) for combo in combos]
            total = sum(scores)
            items += [("|".join(CATEGORIES[c] for c in combo), share * sc / total) for combo, sc in
                      zip(combos, scores, strict=True)]  # fmt: skip
        tables.append(_quantile_table(items))
    return tuple(tables)


def _lognormal_table(rng: random.Random, median: float, sigma: float) -> tuple[float, ...]:
    return tuple(median * math.exp(sigma * rng.gauss(0.0, 1.0)) for _ in range(_TABLE))


def _messy_email(email: str, rnd: Callable[[], float]) -> str:
    """How guest checkout mangles an address: stray capitals and spaces, never a different address."""
    r = rnd()
    if r < 0.35:
        local, _, domain = email.partition("@")
        out = f"{local.title()}@{domain}"
    elif r < 0.5:
        out = email.upper()
    elif r < 0.75:
        out = "".join(c.upper() if rnd() < 0.3 else c for c in email)
    else:
        out = email
    r = rnd()
    if r < 0.2:
        return f" {out}"
    if r < 0.4 or out == email:
        return f"{out} "
    if r < 0.5:
        return f"  {out} "
    return out


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


class _Orders:
    """Order rows for one email; shared by contacts, guests and malformed rows so they look alike."""

    def __init__(self, out: _Rows, clock: _Clock, rng: random.Random, next_number: int) -> None:
        self.out = out
        self.clock = clock
        self.rnd = rng.random
        self.next_number = next_number
        self.written = 0
        self.baskets = _basket_tables()
        self.order_value = _lognormal_table(rng, 52.0, 0.55)
        self.endings = (10, 5, 1, 0, 0, 10)  # cents below the next euro: 59.90, 59.95, 59.99, 60.00

    def write(self, email: str, ts: int, region: _Region, spend: float, status: str) -> None:
        rnd = self.rnd
        clock = self.clock
        if rnd() < 0.10:
            email = _messy_email(email, rnd)
        created = clock.local(ts, region) if rnd() < 0.15 else clock.utc(ts)
        season = clock.season[(ts + region.offset_s) // _DAY - clock.day0]
        if region.south:
            season = (season + 2) % 4
        basket = self.baskets[season][int(rnd() * _TABLE)]
        items = basket.count("|") + 1
        euros = max(5, int(self.order_value[int(rnd() * _TABLE)] * spend * (1.0 + 0.6 * (items - 1))))
        cents = euros * 100 - self.endings[int(rnd() * 6)]
        if euros < 50 and rnd() < 0.7:
            cents += 495  # shipping below the free-shipping threshold
        if status == "refunded":
            refunded = cents
        elif status == "partially_refunded":
            refunded = max(1, int(cents * (0.1 + 0.6 * rnd())))
        else:
            refunded = 0
        self.out.row((f"#{self.next_number}", email, created, _money(cents), "EUR", status,
                      _money(refunded), basket))  # fmt: skip
        self.next_number += 1
        self.written += 1


def _write_base(
    contacts_out: _Rows,
    orders_out: _Rows,
    events_out: _Rows,
    *,
    contacts: int,
    seed: int,
    as_ts: int,
    messy: bool,
) -> dict[str, int]:
    key = _seed_key(seed)
    rng = _rng(seed, "base")
    rnd = rng.random
    clock = _Clock(as_ts)
    utc = clock.utc
    orders = _Orders(orders_out, clock, rng, _FIRST_ORDER_NUMBER)
    write_order = orders.write
    gap_factor = _lognormal_table(rng, 1.0, 0.7)
    spend_factor = _lognormal_table(rng, 1.0, 0.45)
    open_delay = [int(x) for x in _lognormal_table(rng, 3 * 3600.0, 1.3)]
    click_delay = [int(x) + 5 for x in _lognormal_table(rng, 40.0, 1.2)]
    first_send = (as_ts // _DAY - 2) * _DAY + 8 * 3600 - (_CAMPAIGNS - 1) * _WEEK
    sends = [first_send + k * _WEEK for k in range(_CAMPAIGNS)]
    campaign = [f"c{k + 1:04d}" for k in range(_CAMPAIGNS)]
    lapsed_last = _CAMPAIGNS - 14  # lapsed contacts stopped engaging at least ~3 months ago
    order_status = _ORDER_STATUS_OF
    contact_row = contacts_out.row
    event_rows = events_out.rows
    oldest_signup = as_ts - _SIGNUP_SPAN

    messy_n = min(_MAX_MESSY, 5 + contacts // 100_000) if messy else 0
    messy_at = [(k + 1) * contacts // (messy_n + 1) for k in range(messy_n)]
    messy_rng = _rng(seed, "messy")
    next_messy = 0
    n_events = 0
    guests = 0

    for i in range(contacts):
        email, first, last, region, status, engagement = _identity(key, i)

        # Sign-ups over three years, denser lately: 2/3 uniform, 1/3 linearly rising towards as_of.
        opt: int | None
        if i == 0:
            opt = as_ts - int(rnd() * 7 * _DAY)
        elif rnd() < 0.03:
            opt = None
        elif rnd() < 2 / 3:
            opt = as_ts - int(_SIGNUP_SPAN * rnd())
        else:
            opt = as_ts - int(_SIGNUP_SPAN * (1.0 - math.sqrt(rnd())))
        r = rnd() - 0.04
        language = "" if r < 0 else region.other_language if r < region.other_share else region.language
        contact_row((
            email,
            status,
            "" if opt is None else utc(opt),
            "" if rnd() < 0.25 else region.tz,
            "" if rnd() < 0.02 else region.country,
            language,
            "" if rnd() < 0.02 else first,
            "" if rnd() < 0.03 else last,
        ))  # fmt: skip

        # Orders: a first one (often right at sign-up), then lognormal gaps until churn or as_of.
        if rnd() < _BUYER_SHARE[status]:
            since = oldest_signup if opt is None else opt
            if opt is not None and rnd() < 0.35:
                t = opt + int(rnd() * rnd() * 3 * _DAY)
                if t > as_ts:
                    t = opt + int(rnd() * (as_ts - opt))
            else:
                lo = since - _YEAR
                t = lo + int(rnd() * (as_ts - lo))
            heavy = rnd() < 0.12
            churn = 0.08 if heavy else 0.32
            gap = (34 if heavy else 58) * _DAY * spend_factor[int(rnd() * _TABLE)]
            spend = spend_factor[int(rnd() * _TABLE)] * (3.5 if rnd() < 0.03 else 1.0)
            for _ in range(_MAX_ORDERS_PER_BUYER):
                write_order(email, t, region, spend, order_status[int(rnd() * 100)])
                if rnd() < churn:
                    break
                t += int(gap * gap_factor[int(rnd() * _TABLE)]) + 3600
                if t > as_ts:
                    break
        if rnd() < 0.042:
            guests += 1
            g_region = _REGION_OF[int(rnd() * 1000)]
            firsts, lasts = _NAMES[g_region.names][0]
            g_first = firsts[int(rnd() * len(firsts))][1]
            g_last = lasts[int(rnd() * len(lasts))][1]
            g_email = f"{g_first}_{g_last}{guests}@{_DOMAIN_OF[int(rnd() * 100)]}"
            t = as_ts - int(rnd() * _SIGNUP_SPAN)
            write_order(g_email, t, g_region, 1.0, order_status[int(rnd() * 100)])

        # Engagement: opens (and clicks after some opens) of campaigns sent after the sign-up.
        lo_k = 0 if opt is None else bisect_right(sends, opt)
        if status == "subscribed" and engagement >= 52:
            hi_k, n_span, rate, recent = _CAMPAIGNS, _CAMPAIGNS - lo_k, 0.012 + 0.19 * rnd() ** 2, True
        elif lo_k < lapsed_last and (
            (status == "subscribed" and engagement >= 32)
            or (status in ("unsubscribed", "cleaned", "archived") and rnd() < 0.6)
        ):
            hi_k = lo_k + int((lapsed_last - lo_k) * rnd()) + 1
            n_span, rate, recent = hi_k - lo_k, 0.02 + 0.12 * rnd(), False
        else:
            n_span = 0
        if n_span > 0:
            count = int(n_span * rate + rnd())
            if count:
                events: list[tuple[int, str, str]] = []
                for _ in range(count):
                    u = rnd()
                    k = hi_k - 1 - int(n_span * u * u) if recent else lo_k + int(n_span * u)
                    t = sends[k] + open_delay[int(rnd() * _TABLE)]
                    if t > as_ts:
                        continue
                    events.append((t, "open", campaign[k]))
                    if rnd() < 0.25:
                        tc = t + click_delay[int(rnd() * _TABLE)]
                        if tc <= as_ts:
                            events.append((tc, "click", campaign[k]))
                events.sort()
                n_events += len(events)
                event_rows([(email, kind, utc(at), cid) for at, kind, cid in events])

        while next_messy < messy_n and messy_at[next_messy] == i:
            _write_messy(next_messy, email, region, as_ts, clock, contacts_out, orders, events_out, messy_rng)
            next_messy += 1

    for k in range(next_messy, messy_n):  # shops too small to spread them out
        fallback = _identity(key, 0)
        _write_messy(k, fallback[0], fallback[3], as_ts, clock, contacts_out, orders, events_out, messy_rng)
    return {"contacts": contacts + messy_n, "orders": orders.written, "events": n_events + messy_n}


def _write_messy(
    k: int,
    email: str,
    region: _Region,
    as_ts: int,
    clock: _Clock,
    contacts_out: _Rows,
    orders: _Orders,
    events_out: _Rows,
    rng: random.Random,
) -> None:
    """One malformed row per file, cycling through the mistakes real exports contain."""
    kind = k % 5
    ts = as_ts - int(rng.random() * 300 * _DAY)
    stamp = clock.utc(ts)
    broken = f"broken.row{k + 1}@example.com"
    contact = [broken, "subscribed", stamp, region.tz, region.country, region.language, "Test", "Row"]
    if kind == 0:
        contact[0] = "not-an-email"
    elif kind == 1:
        contact[2] = "2025-13-45"
    elif kind == 2:
        contact[1] = "vip"
    elif kind == 3:
        contact[3] = "Mars/Olympus"
    else:
        contact[0] = ""
    contacts_out.row(contact)

    order = [f"#{orders.next_number}", email, stamp, "59.90", "EUR", "paid", "0.00", "boots"]
    if kind == 0:
        order[3] = "12,3x"
    elif kind == 1:
        order[2] = "2025-13-45"
    elif kind == 2:
        order[1] = "not-an-email"
    elif kind == 3:
        order[6] = "79.90"  # refunded more than the total
    else:
        order[2] = stamp[:-1]  # no UTC offset: ambiguous shop-local or UTC
    orders.out.row(order)
    orders.next_number += 1
    orders.written += 1

    event = [email, "open", stamp, "c0001"]
    if kind == 0:
        event[0] = "not-an-email"
    elif kind == 1:
        event[2] = "2025-13-45"
    elif kind == 2:
        event[1] = "bounce"
    elif kind == 3:
        event[0] = ""
    else:
        event[2] = ""
    events_out.row(event)


def _sorted_uniforms(n: int, rnd: Callable[[], float]) -> Iterable[float]:
    """n sorted uniforms in [0, 1), ascending, streamed via order statistics (no list to sort)."""
    x = 0.0
    for left in range(n, 0, -1):
        x += (1.0 - x) * (1.0 - rnd() ** (1.0 / left))
        yield min(x, math.nextafter(1.0, 0.0))


def _write_increment(
    orders_out: _Rows, events_out: _Rows, *, contacts: int, seed: int, as_ts: int, fraction: float
) -> dict[str, int]:
    key = _seed_key(seed)
    rng = _rng(seed, f"increment/{as_ts}/{contacts}/{fraction!r}")
    rnd = rng.random
    clock = _Clock(as_ts)
    n_orders = max(1, round(fraction * _ORDERS_PER_CONTACT * contacts)) if contacts else 0
    n_events = max(1, round(fraction * _EVENTS_PER_CONTACT * contacts)) if contacts else 0
    ceiling = _FIRST_ORDER_NUMBER + contacts * (_MAX_ORDERS_PER_BUYER + 1) + _MAX_MESSY
    day = (as_ts - int(_MIN_AS_OF.timestamp())) // _DAY
    orders = _Orders(orders_out, clock, rng, ceiling + day * (2 * contacts + 1))
    spend_factor = _lognormal_table(rng, 1.0, 0.45)

    for x in _sorted_uniforms(n_orders, rnd):
        t = as_ts - int((1.0 - x) * _DAY)
        status = _FRESH_ORDER_STATUS_OF[int(rnd() * 100)]
        if rnd() < 0.03:
            region = _REGION_OF[int(rnd() * 1000)]
            firsts, lasts = _NAMES[region.names][0]
            email = (f"{firsts[int(rnd() * len(firsts))][1]}_{lasts[int(rnd() * len(lasts))][1]}"
                     f"{int(rnd() * 1_000_000)}@{_DOMAIN_OF[int(rnd() * 100)]}")  # fmt: skip
        else:
            while True:  # buyers in the proportions the base has them
                email, _, _, region, c_status, _ = _identity(key, int(rnd() * contacts))
                if rnd() < _BUYER_SHARE[c_status]:
                    break
        orders.write(email, t, region, spend_factor[int(rnd() * _TABLE)], status)

    campaign = (f"c{_CAMPAIGNS:04d}",) * 7 + (f"c{_CAMPAIGNS - 1:04d}",) * 2 + (f"c{_CAMPAIGNS - 2:04d}",)
    written = 0
    for x in _sorted_uniforms(n_events, rnd):
        t = as_ts - int((1.0 - x) * _DAY)
        # Only engaged subscribers open mail now. The search is bounded for tiny shops; contact 0
        # is an engaged subscriber by construction, so it is the fallback.
        email = _identity(key, 0)[0]
        for _ in range(200):
            candidate, _, _, _, c_status, engagement = _identity(key, int(rnd() * contacts))
            if c_status == "subscribed" and engagement >= 52:
                email = candidate
                break
        events_out.row((email, "click" if rnd() < 0.2 else "open", clock.utc(t), campaign[int(rnd() * 10)]))
        written += 1
    return {"contacts": 0, "orders": orders.written, "events": written}
