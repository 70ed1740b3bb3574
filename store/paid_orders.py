"""The paid orders as of T as column arrays, what the predictive models are fitted to (jobs/predict.py).

A row per paid order: the customer (email_key), the UTC calendar day it was placed on, and its net
amount (total - refunded) in the reporting currency. "Paid" is `[segments] paid_statuses` and the
reporting currency is store.currency's choice, exactly as the money features count (store/features.py),
so a prediction and a rule about spend agree on which orders exist. An order in another currency is
left out altogether: its value cannot be added to the others, and the models read value and timing
together. A 0.00 order is kept (it is still a purchase).

The rows come straight from the driver's cursor (store.driver_rows.stream_rows) into NumPy arrays: a
million orders through SQLAlchemy's Row layer would cost seconds before the fit even starts.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, and_, select

from segmail.store.codec import MONEY_SCALE, US_PER_DAY
from segmail.store.currency import reporting_currency
from segmail.store.driver_rows import stream_rows
from segmail.store.schema import orders

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


@dataclass(frozen=True, kw_only=True)
class PaidOrderArrays:
    """One entry per paid order: `codes` index into `customers`; `days` are date.toordinal() (UTC)."""

    customers: tuple[str, ...]
    codes: npt.NDArray[np.int64]
    days: npt.NDArray[np.int64]
    amounts: npt.NDArray[np.float64]
    currency: str | None  # the reporting currency the amounts are in; None when the store has no order

    def __len__(self) -> int:
        return len(self.codes)


def paid_order_arrays(
    conn: Connection,
    *,
    as_of_us: int,
    paid_statuses: Sequence[str],
    currency: str | None,
    only: Collection[str] | None = None,
) -> PaidOrderArrays:
    """Every paid order placed up to `as_of_us` in the reporting currency (`currency` is `[shop] currency`),
    of every buyer or `only` of these (read by key, a few hundred at a time)."""
    money = reporting_currency(conn, currency)
    o = orders.c
    query = select(o.email_key, o.created_at, o.total_e4 - o.refunded_e4).where(
        and_(o.status.in_(list(paid_statuses)), o.created_at <= as_of_us, o.currency == money)
    )
    if only is None:
        queries = [query]
    else:
        keys = sorted(only)
        queries = [query.where(o.email_key.in_(keys[i : i + _CHUNK])) for i in range(0, len(keys), _CHUNK)]
    names: dict[str, int] = {}
    codes: list[int] = []
    at: list[int] = []
    net: list[int] = []
    if money is not None:
        for part in queries:
            for key, created_at, amount_e4 in stream_rows(conn, part):
                codes.append(names.setdefault(key, len(names)))
                at.append(created_at)
                net.append(amount_e4)
    return PaidOrderArrays(
        customers=tuple(names),
        codes=np.asarray(codes, dtype=np.int64),
        days=np.asarray(at, dtype=np.int64) // US_PER_DAY + _EPOCH_ORDINAL,
        amounts=np.asarray(net, dtype=np.float64) / MONEY_SCALE,
        currency=money,
    )


_CHUNK = 500
