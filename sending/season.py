"""The season a recipient is living in, so seasonal blocks suggest boots in a Berlin December, not Sydney's."""

from __future__ import annotations

from datetime import date

SEASONS = ("spring", "summer", "autumn", "winter", "tropical")

# Meteorological seasons (whole months, as weather services and retail calendars use them),
# for the northern hemisphere; the southern hemisphere is shifted by half a year.
_NORTHERN = {
    12: "winter", 1: "winter", 2: "winter",
    3: "spring", 4: "spring", 5: "spring",
    6: "summer", 7: "summer", 8: "summer",
    9: "autumn", 10: "autumn", 11: "autumn",
}  # fmt: skip
_FLIPPED = {"winter": "summer", "summer": "winter", "spring": "autumn", "autumn": "spring"}

# Southern temperate: most people live south of the Tropic of Capricorn, so winter is June to August.
# AU counts here although its north is tropical: Sydney, Melbourne, Perth and Adelaide have winters.
# PY, BW and NA straddle the Tropic but their capitals lie south of it and have a cool season.
SOUTHERN = frozenset({"AR", "AU", "BW", "CL", "FK", "LS", "NA", "NZ", "PY", "SZ", "UY", "ZA"})

# Tropical: country mostly (by area and by where people live) between the Tropics, without a
# cold season a shop sells for; wet and dry seasons matter there, not winter boots.
# Deliberate choices at the edges:
# - BR: about 90 % of its area and most of its people (incl. Rio) are tropical; the cooler south
#   (Porto Alegre, Curitiba) is a minority, and one country-level answer has to be picked.
# - MX: most of the population lives south of the Tropic of Cancer (Mexico City, Guadalajara).
# - IN, BD: mostly tropical monsoon climates; the cool north Indian winter is not a boots winter.
# - Not tropical: HK, MO, TW (on the Tropic, but with a cool winter people shop for), the Gulf
#   states and SA (mostly north of the Tropic), EG and the Maghreb, PK, CN.
TROPICAL = frozenset(
    {
        # South and South-East Asia
        "BD", "BN", "ID", "IN", "KH", "LA", "LK", "MM", "MV", "MY", "PH", "SG", "TH", "TL", "VN", "YE",
        # Sub-Saharan Africa between the Tropics
        "AO", "BF", "BI", "BJ", "CD", "CF", "CG", "CI", "CM", "CV", "DJ", "ER", "ET", "GA", "GH", "GM",
        "GN", "GQ", "GW", "KE", "KM", "LR", "MG", "ML", "MR", "MU", "MW", "MZ", "NE", "NG", "RE", "RW",
        "SC", "SD", "SL", "SN", "SO", "SS", "ST", "TD", "TG", "TZ", "UG", "YT", "ZM", "ZW",
        # Mexico, Central America and the Caribbean
        "AG", "AI", "AW", "BB", "BL", "BQ", "BS", "BZ", "CR", "CU", "CW", "DM", "DO", "GD", "GP", "GT",
        "HN", "HT", "JM", "KN", "KY", "LC", "MF", "MQ", "MS", "MX", "NI", "PA", "PR", "SV", "SX", "TC",
        "TT", "VC", "VG", "VI",
        # South America
        "BO", "BR", "CO", "EC", "GF", "GY", "PE", "SR", "VE",
        # Pacific
        "AS", "CK", "FJ", "FM", "GU", "KI", "MH", "MP", "NC", "NR", "NU", "PF", "PG", "PW", "SB", "TK",
        "TO", "TV", "VU", "WF", "WS",
    }
)  # fmt: skip


def season_for(country: str | None, local_date: date) -> str:
    """Unknown countries get the northern season: most of the shops' subscribers live north."""
    code = (country or "").strip().upper()
    if code in TROPICAL:
        return "tropical"
    northern = _NORTHERN[local_date.month]
    return _FLIPPED[northern] if code in SOUTHERN else northern
