"""The generated shop's CSV output: files that appear whole, and ISO 8601 times by table lookup."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterable
from datetime import date
from pathlib import Path
from typing import Final

from segmail.sandbox.shopgen_people import Region

DAY: Final = 86_400
YEAR: Final = 365 * DAY
SIGNUP_SPAN: Final = 3 * YEAR


class Rows:
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


class Clock:
    """ISO 8601 strings from epoch seconds by table lookup: datetime objects per row cost too much."""

    def __init__(self, as_ts: int) -> None:
        self.day0 = as_ts // DAY - SIGNUP_SPAN // DAY - 366 - 8
        end = as_ts // DAY + 2  # local times run up to 14 hours ahead of UTC
        epoch = date(1970, 1, 1).toordinal()
        dates = [date.fromordinal(epoch + d) for d in range(self.day0, end + 1)]
        self.days = [d.isoformat() for d in dates]
        self.season = [(d.month % 12) // 3 for d in dates]  # 0 winter, 1 spring, 2 summer, 3 autumn
        self.hm = [f"T{h:02d}:{m:02d}:" for h in range(24) for m in range(60)]
        self.sz = [f"{s:02d}Z" for s in range(60)]
        self.ss = [f"{s:02d}" for s in range(60)]

    def utc(self, ts: int) -> str:
        d, s = divmod(ts, DAY)
        m, s = divmod(s, 60)
        return self.days[d - self.day0] + self.hm[m] + self.sz[s]

    def local(self, ts: int, region: Region) -> str:
        d, s = divmod(ts + region.offset_s, DAY)
        m, s = divmod(s, 60)
        return self.days[d - self.day0] + self.hm[m] + self.ss[s] + region.offset


def money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"
