"""`predict check`'s result kept in the store for the day it was made, so the workspace's Predictions
page shows it at once instead of fitting a calibration model while someone waits (11 s at 1M contacts).

The service's refit makes the check with the default holdout right after it fits (once a day), and the
workspace keeps any check it had to make itself; a check is shown only on the UTC day it was made and for
the holdout it was made with (its holdout ends on that day). A refusal (too little data) is kept too.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from segmail.store.db import Store, get_meta, set_meta

if TYPE_CHECKING:  # NumPy and SciPy load only where a check is read or made, not with the CLI
    from segmail.segments.clv_check import CheckResult

KEY = "predict_check"
DEFAULT_HOLDOUT_DAYS = 91  # 13 weeks: a quarter, long enough to see repeat orders in most shops

__all__ = ["DEFAULT_HOLDOUT_DAYS", "document", "from_document", "save", "stored"]


def save(store: Store, result: CheckResult | str, *, as_of: datetime, holdout_days: int) -> None:
    """Keep a check (or the refusal) made at `as_of` with `holdout_days`, replacing the one before."""
    kept: dict[str, Any] = {"day": as_of.date().isoformat(), "holdout_days": holdout_days}
    if isinstance(result, str):
        kept["refused"] = result
    else:
        kept["document"] = document(result)
    with store.engine.begin() as conn:
        set_meta(conn, KEY, kept)


def stored(store: Store, *, day: date, holdout_days: int) -> CheckResult | str | None:
    """The check kept for this UTC day and holdout, its refusal, or None."""
    with store.engine.connect() as conn:
        kept = get_meta(conn, KEY)
    if not isinstance(kept, dict) or kept.get("day") != day.isoformat():
        return None
    if kept.get("holdout_days") != holdout_days:
        return None
    if "refused" in kept:
        return str(kept["refused"])
    return from_document(kept["document"])


def document(result: CheckResult) -> dict[str, object]:
    """The check as `predict check --format json` prints it."""
    return {
        "calibration_end": result.calibration_end.isoformat(),
        "holdout_end": result.holdout_end.isoformat(),
        "holdout_days": result.holdout_days,
        "customers": result.customers,
        "predicted": result.predicted,
        "actual": result.actual,
        "error": result.error,
        "by_frequency": [
            {
                "frequency": c.label,
                "customers": c.customers,
                "predicted": c.predicted,
                "actual": c.actual,
                "predicted_mean": c.predicted_mean,
                "actual_mean": c.actual_mean,
            }
            for c in result.classes
        ],
        "cumulative": [
            {"day": int(d), "predicted": float(p), "actual": int(a)}
            for d, p, a in zip(
                result.cumulative_days, result.cumulative_predicted, result.cumulative_actual, strict=True
            )
        ],
    }


def from_document(doc: dict[str, Any]) -> CheckResult:
    """The CheckResult `document` wrote (every number as it was)."""
    import numpy as np

    from segmail.segments.clv_check import CheckResult, FrequencyClass

    cumulative = doc["cumulative"]
    return CheckResult(
        calibration_end=date.fromisoformat(doc["calibration_end"]),
        holdout_end=date.fromisoformat(doc["holdout_end"]),
        customers=int(doc["customers"]),
        predicted=float(doc["predicted"]),
        actual=int(doc["actual"]),
        classes=tuple(
            FrequencyClass(
                label=str(c["frequency"]),
                customers=int(c["customers"]),
                predicted=float(c["predicted"]),
                actual=int(c["actual"]),
            )
            for c in doc["by_frequency"]
        ),
        cumulative_days=np.array([int(p["day"]) for p in cumulative], dtype=np.int64),
        cumulative_predicted=np.array([float(p["predicted"]) for p in cumulative], dtype=np.float64),
        cumulative_actual=np.array([int(p["actual"]) for p in cumulative], dtype=np.int64),
    )
