"""Curated country and subdivision → IANA zone tables for the recipient zone chain.

pytz lists a country's zones in zone.tab order (roughly east to west or north to south),
so `country_timezones[cc][0]` is often a thinly populated edge of the country (CA → St_Johns,
AU → Lord_Howe, RU → Kaliningrad). MAIN_ZONE names, for every country where pytz lists
more than one zone, the zone where most of its people live; tests/test_timezones.py fails
when a pytz upgrade adds a multi-zone country that is missing here, so it gets reviewed.

Subdivision codes are ISO 3166-2 without the country prefix. For split states the zone of
the majority of residents wins (e.g. TN → Chicago: Nashville and Memphis outnumber Knoxville).
A country's table may be sparse: a code that is not listed falls back to MAIN_ZONE.
"""

from __future__ import annotations

from typing import Final

MAIN_ZONE: Final[dict[str, str]] = {
    "AQ": "Antarctica/McMurdo",  # the largest station
    "AR": "America/Argentina/Buenos_Aires",
    "AU": "Australia/Sydney",
    "BR": "America/Sao_Paulo",
    "CA": "America/Toronto",
    "CD": "Africa/Kinshasa",
    "CL": "America/Santiago",
    "CN": "Asia/Shanghai",  # Urumqi is used informally by a minority in Xinjiang only
    "CY": "Asia/Nicosia",
    "DE": "Europe/Berlin",  # Busingen is one exclave village
    "EC": "America/Guayaquil",
    "ES": "Europe/Madrid",
    "FM": "Pacific/Chuuk",  # Chuuk state has about half of the population
    "GL": "America/Nuuk",
    "ID": "Asia/Jakarta",
    "KI": "Pacific/Tarawa",  # the Gilbert Islands hold about 90 % of the people
    "KZ": "Asia/Almaty",  # one offset (+05) nationwide since 2024-03-01
    "MH": "Pacific/Majuro",
    "MN": "Asia/Ulaanbaatar",
    "MX": "America/Mexico_City",
    "MY": "Asia/Kuala_Lumpur",
    "NZ": "Pacific/Auckland",
    "PF": "Pacific/Tahiti",
    "PG": "Pacific/Port_Moresby",
    "PS": "Asia/Hebron",  # the West Bank has more residents than Gaza
    "PT": "Europe/Lisbon",
    "RU": "Europe/Moscow",
    "UA": "Europe/Kyiv",
    "UM": "Pacific/Wake",  # about a hundred residents, more than Midway
    "US": "America/New_York",
    "UZ": "Asia/Tashkent",
}

_NY, _CHI, _DEN, _LA = "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"

_US: Final[dict[str, str]] = {
    "AL": _CHI, "AK": "America/Anchorage", "AZ": "America/Phoenix", "AR": _CHI, "CA": _LA,
    "CO": _DEN, "CT": _NY, "DE": _NY, "DC": _NY, "FL": _NY, "GA": _NY, "HI": "Pacific/Honolulu",
    "ID": "America/Boise", "IL": _CHI, "IN": "America/Indiana/Indianapolis", "IA": _CHI, "KS": _CHI,
    "KY": _NY, "LA": _CHI, "ME": _NY, "MD": _NY, "MA": _NY, "MI": "America/Detroit", "MN": _CHI,
    "MS": _CHI, "MO": _CHI, "MT": _DEN, "NE": _CHI, "NV": _LA, "NH": _NY, "NJ": _NY, "NM": _DEN,
    "NY": _NY, "NC": _NY, "ND": _CHI, "OH": _NY, "OK": _CHI, "OR": _LA, "PA": _NY, "RI": _NY,
    "SC": _NY, "SD": _CHI, "TN": _CHI, "TX": _CHI, "UT": _DEN, "VT": _NY, "VA": _NY, "WA": _LA,
    "WV": _NY, "WI": _CHI, "WY": _DEN,
}  # fmt: skip

_CA: Final[dict[str, str]] = {
    "AB": "America/Edmonton", "BC": "America/Vancouver", "MB": "America/Winnipeg",
    "NB": "America/Moncton", "NL": "America/St_Johns", "NS": "America/Halifax",
    "NT": "America/Edmonton",  # Yellowknife has been a link to Edmonton since tzdata 2023c
    "NU": "America/Iqaluit", "ON": "America/Toronto", "PE": "America/Halifax",
    "QC": "America/Toronto", "SK": "America/Regina", "YT": "America/Whitehorse",
}  # fmt: skip

_AU: Final[dict[str, str]] = {
    "ACT": "Australia/Sydney", "NSW": "Australia/Sydney", "NT": "Australia/Darwin",
    "QLD": "Australia/Brisbane", "SA": "Australia/Adelaide", "TAS": "Australia/Hobart",
    "VIC": "Australia/Melbourne", "WA": "Australia/Perth",
}  # fmt: skip

_SP, _FOR = "America/Sao_Paulo", "America/Fortaleza"
_BR: Final[dict[str, str]] = {
    "AC": "America/Rio_Branco", "AL": "America/Maceio", "AM": "America/Manaus", "AP": "America/Belem",
    "BA": "America/Bahia", "CE": _FOR, "DF": _SP, "ES": _SP, "GO": _SP, "MA": _FOR,
    "MG": _SP, "MS": "America/Campo_Grande", "MT": "America/Cuiaba", "PA": "America/Belem",
    "PB": _FOR, "PE": "America/Recife", "PI": _FOR, "PR": _SP, "RJ": _SP, "RN": _FOR,
    "RO": "America/Porto_Velho", "RR": "America/Boa_Vista", "RS": _SP, "SC": _SP,
    "SE": "America/Maceio", "SP": _SP, "TO": "America/Araguaina",
}  # fmt: skip

# ISO 3166-2:MX codes, the pre-2016 DIF for Mexico City, and the codes Shopify uses (DF, NL, Q ROO ...).
_MEX, _MTY, _MZT = "America/Mexico_City", "America/Monterrey", "America/Mazatlan"
_MX: Final[dict[str, str]] = {
    "AGU": _MEX, "BCN": "America/Tijuana", "BCS": _MZT, "CAM": "America/Merida", "CHP": _MEX,
    "CHH": "America/Chihuahua",  # Ciudad Juarez (own zone) is a minority of the state
    "CMX": _MEX, "COA": _MTY, "COL": _MEX, "DUR": _MTY, "GRO": _MEX, "GUA": _MEX, "HID": _MEX,
    "JAL": _MEX, "MEX": _MEX, "MIC": _MEX, "MOR": _MEX, "NAY": _MZT, "NLE": _MTY, "OAX": _MEX,
    "PUE": _MEX, "QUE": _MEX, "ROO": "America/Cancun", "SIN": _MZT, "SLP": _MEX,
    "SON": "America/Hermosillo", "TAB": _MEX,
    "TAM": "America/Matamoros",  # the US-border strip (Reynosa, Matamoros, Nuevo Laredo) is the majority
    "TLA": _MEX, "VER": _MEX, "YUC": "America/Merida", "ZAC": _MEX,
    "DIF": _MEX, "DF": _MEX, "AGS": _MEX, "BC": "America/Tijuana", "CAMP": "America/Merida",
    "CHIS": _MEX, "CHIH": "America/Chihuahua", "COAH": _MTY, "DGO": _MTY, "GTO": _MEX,
    "HGO": _MEX, "MICH": _MEX, "NL": _MTY, "QRO": _MEX, "Q ROO": "America/Cancun",
    "QROO": "America/Cancun", "TAMPS": "America/Matamoros", "TLAX": _MEX,
}  # fmt: skip

_WIB, _WITA, _WIT = "Asia/Jakarta", "Asia/Makassar", "Asia/Jayapura"
_ID: Final[dict[str, str]] = {
    "AC": _WIB, "BA": _WITA, "BB": _WIB, "BE": _WIB, "BT": _WIB, "GO": _WITA, "JA": _WIB,
    "JB": _WIB, "JI": _WIB, "JK": _WIB, "JT": _WIB, "KB": "Asia/Pontianak", "KI": _WITA,
    "KR": _WIB, "KS": _WITA, "KT": "Asia/Pontianak", "KU": _WITA, "LA": _WIB, "MA": _WIT,
    "MU": _WIT, "NB": _WITA, "NT": _WITA, "PA": _WIT, "PB": _WIT, "PD": _WIT, "PE": _WIT,
    "PS": _WIT, "PT": _WIT, "RI": _WIB, "SA": _WITA, "SB": _WIB, "SG": _WITA, "SN": _WITA,
    "SR": _WITA, "SS": _WIB, "ST": _WITA, "SU": _WIB, "YO": _WIB,
}  # fmt: skip

PROVINCE_ZONES: Final[dict[str, dict[str, str]]] = {
    "US": _US,
    "CA": _CA,
    "AU": _AU,
    "BR": _BR,
    "MX": _MX,
    "ID": _ID,
    # Sparse tables: only the subdivisions off the main zone.
    "CL": {"AI": "America/Coyhaique", "MA": "America/Punta_Arenas"},
    "EC": {"W": "Pacific/Galapagos"},
    "ES": {"CE": "Africa/Ceuta", "ML": "Africa/Ceuta"}
    | {"CN": "Atlantic/Canary", "GC": "Atlantic/Canary", "TF": "Atlantic/Canary"},
    "MY": {"12": "Asia/Kuching", "13": "Asia/Kuching", "15": "Asia/Kuching"}
    | {"SBH": "Asia/Kuching", "SWK": "Asia/Kuching", "LBN": "Asia/Kuching"},
    "NZ": {"CIT": "Pacific/Chatham"},
    "PT": {"20": "Atlantic/Azores", "30": "Atlantic/Madeira"},
}

# US territories have their own ISO country codes (and pytz entries), but shops often file
# them as US states; such a "province" is resolved as that country.
TERRITORY_COUNTRY: Final[dict[str, dict[str, str]]] = {
    "US": {"AS": "AS", "GU": "GU", "MP": "MP", "PR": "PR", "UM": "UM", "VI": "VI"},
}
