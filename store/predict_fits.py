"""The stored fits of the predictive models (table predict_fits, schema v7).

Each `predict fit` appends a row: the parameters with the as-of they were fitted at and the data size,
so what a prediction rested on stays on record and a refit can be compared with the one before.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlalchemy import Connection, select

from segmail.store.schema import predict_fits


@dataclass(frozen=True, kw_only=True)
class FitRow:
    """One stored fit; BG/NBD (r, alpha, a, b) in days, Gamma-Gamma (p, q, v) in the reporting currency."""

    as_of: int  # UTC µs
    fitted_at: int  # UTC µs
    customers: int
    repeat_customers: int
    log_likelihood: float  # BG/NBD's
    r: float
    alpha: float
    a: float
    b: float
    p: float
    q: float
    v: float


def save_fit(conn: Connection, fit: FitRow) -> int:
    """Append the fit; returns its id."""
    result = conn.execute(predict_fits.insert().values(**asdict(fit)))
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def latest_fit(conn: Connection) -> FitRow | None:
    """The most recently stored fit (by fitted_at, then id), or None before the first."""
    c = predict_fits.c
    row = conn.execute(
        select(*(getattr(c, name) for name in FitRow.__dataclass_fields__))
        .order_by(c.fitted_at.desc(), c.id.desc())
        .limit(1)
    ).one_or_none()
    return None if row is None else FitRow(**row._asdict())


def fit_for(conn: Connection, as_of_us: int) -> tuple[int, FitRow] | None:
    """The fit a compute at `as_of_us` uses: the latest fitted as of that instant or before, with its id.

    A fit made as of a later time has seen orders after T; a rule must not (store.features' rule)."""
    c = predict_fits.c
    row = conn.execute(
        select(c.id, *(getattr(c, name) for name in FitRow.__dataclass_fields__))
        .where(c.as_of <= as_of_us)
        .order_by(c.as_of.desc(), c.fitted_at.desc(), c.id.desc())
        .limit(1)
    ).one_or_none()
    if row is None:
        return None
    values = row._asdict()
    return int(values.pop("id")), FitRow(**values)
