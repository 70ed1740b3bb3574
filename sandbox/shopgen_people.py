"""Who the generated shop's customers are: regions, names, statuses and each contact's identity from (seed, number)."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

_NAMESPACE: Final = "segmail-shopgen/v1"
_MASK64: Final = (1 << 64) - 1

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
class Region:
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
            weight: int, *, south: bool = False) -> Region:  # fmt: skip
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return Region(tz, country, lang, other, share, f"{sign}{hours:02d}:{mins:02d}", minutes * 60,
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
BUYER_SHARE: Final = {
    "subscribed": 0.43,
    "unsubscribed": 0.50,
    "cleaned": 0.30,
    "pending": 0.10,
    "transactional": 0.95,
    "archived": 0.45,
}
DOMAIN_OF: Final = ("example.com",) * 60 + ("example.org",) * 25 + ("example.net",) * 15


def seed_key(seed: int) -> int:
    """64 bits from the seed via SHA-256, so nearby seeds (and -n vs n) give unrelated shops."""
    digest = hashlib.sha256(f"{_NAMESPACE}/{seed}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def shop_rng(seed: int, stream: str) -> random.Random:
    # String seeds go through SHA-512 in random.Random, stable across platforms and Python versions.
    return random.Random(f"{_NAMESPACE}/{seed}/{stream}")


def _mix(x: int) -> int:
    """splitmix64's finaliser: a bijection on 64 bits, so distinct contact numbers never share bits."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


Identity = tuple[str, str, str, Region, str, int]


def identity(key: int, i: int) -> Identity:
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
    return f"{local}@{DOMAIN_OF[d]}", first, last, region, status, 99 if i == 0 else engagement


def guest_name(rnd: Callable[[], float]) -> tuple[Region, str, str]:
    """A guest checkout's region and ASCII first and last name: guests are not contacts, so no identity."""
    region = _REGION_OF[int(rnd() * 1000)]
    firsts, lasts = _NAMES[region.names][0]
    first = firsts[int(rnd() * len(firsts))][1]
    last = lasts[int(rnd() * len(lasts))][1]
    return region, first, last
