"""The rule language without SQL: what a rule may name, how its text parses, what its operators mean.

The feature catalogue and the functions (with the shop statistics behind them), the errors and
"did you mean" messages, string constants that are date-times, and each operator's meaning on
constants; segments.rules compiles a parsed rule to one SQL condition.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from fractions import Fraction
from typing import Any, Protocol

from segmail.segments.suggest import did_you_mean


class RuleError(ValueError):
    """A rule that cannot be compiled; `column` is 1-based within the rule text."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(message)
        self.message = message
        self.column = column

    def __str__(self) -> str:
        return f"column {self.column}: {self.message}"


class Kind(Enum):
    NUMBER = "number"
    MONEY = "money"  # column holds 1/10000 units
    DAYS = "days"  # derived from a timestamp column: (T - column) / 1 day
    TIMESTAMP = "timestamp"
    STRING = "string"
    CATEGORIES = "categories"
    BOOL = "bool"


@dataclass(frozen=True)
class Feature:
    kind: Kind
    column: str
    doc: str
    predictive: bool = False  # read from the prediction scores (segments.predictive), not the features table
    exact: bool = True  # an integer column: comparisons with constants are rewritten onto it exactly


FEATURES: dict[str, Feature] = {
    "status": Feature(
        Kind.STRING, "status", "Mailchimp-style status: subscribed, unsubscribed, pending, ..."
    ),
    "country": Feature(Kind.STRING, "country", "ISO 3166 alpha-2 country code, or missing"),
    "language": Feature(Kind.STRING, "language", "language code, or missing"),
    "timezone": Feature(Kind.STRING, "timezone", "IANA time zone of the contact, or missing"),
    "opted_in_at": Feature(Kind.TIMESTAMP, "opted_in_at", "when the contact opted in"),
    "orders_count": Feature(Kind.NUMBER, "orders_count", "number of paid orders up to T"),
    "total_spent": Feature(
        Kind.MONEY,
        "total_spent_e4",
        "net spend (total - refunded) over paid orders in the reporting currency",
    ),
    "avg_order_value": Feature(
        Kind.NUMBER, "", "total_spent / its orders (reporting currency); missing without such orders"
    ),
    "first_order_at": Feature(Kind.TIMESTAMP, "first_order_at", "first paid order"),
    "last_order_at": Feature(Kind.TIMESTAMP, "last_order_at", "last paid order"),
    "last_open_at": Feature(Kind.TIMESTAMP, "last_open_at", "last email open"),
    "last_click_at": Feature(Kind.TIMESTAMP, "last_click_at", "last email click"),
    "last_engagement_at": Feature(Kind.TIMESTAMP, "last_engagement_at", "last open or click"),
    "days_since_opt_in": Feature(Kind.DAYS, "opted_in_at", "days from opt-in to T"),
    "days_since_first_order": Feature(Kind.DAYS, "first_order_at", "days from the first paid order to T"),
    "days_since_last_order": Feature(Kind.DAYS, "last_order_at", "days from the last paid order to T"),
    "days_since_last_open": Feature(Kind.DAYS, "last_open_at", "days from the last open to T"),
    "days_since_last_click": Feature(Kind.DAYS, "last_click_at", "days from the last click to T"),
    "days_since_last_engagement": Feature(
        Kind.DAYS, "last_engagement_at", "days from the last open or click"
    ),
    "categories": Feature(
        Kind.CATEGORIES, "categories", 'product categories bought; use `"boots" in categories`'
    ),
    # predictions (segments.predictive): the stored fit scored at T; missing for contacts without a
    # paid order and for everyone while no fit is stored at or before T
    "p_alive": Feature(
        Kind.NUMBER, "p_alive", "BG/NBD probability (0-1) that the buyer is still a customer",
        predictive=True, exact=False,
    ),
    "expected_orders_90d": Feature(
        Kind.NUMBER, "expected_orders_90d", "BG/NBD expected purchase days in the next 90 days",
        predictive=True, exact=False,
    ),
    "predicted_clv_365d": Feature(
        Kind.NUMBER, "predicted_clv_365d",
        "expected orders in the next 365 days x Gamma-Gamma expected order value (reporting currency)",
        predictive=True, exact=False,
    ),
    "clv_percentile": Feature(
        Kind.NUMBER, "clv_percentile", "0-100: share of the other buyers with a lower predicted_clv_365d",
        predictive=True, exact=False,
    ),
    "rfm_r": Feature(
        Kind.NUMBER, "rfm_r", "recency quintile among buyers, 1-5 (5 = most recent)", predictive=True
    ),
    "rfm_f": Feature(
        Kind.NUMBER, "rfm_f", "frequency quintile among buyers, 1-5 (5 = most frequent)", predictive=True
    ),
    "rfm_m": Feature(
        Kind.NUMBER, "rfm_m", "monetary quintile among buyers, 1-5 (5 = biggest spend per day)", predictive=True
    ),
    "rfm_group": Feature(
        Kind.STRING, "rfm_group",
        "champions, loyal, promising, new, needs attention, at risk, hibernating or lost",
        predictive=True,
    ),
}  # fmt: skip
PREDICTIVE_FEATURES = frozenset(name for name, f in FEATURES.items() if f.predictive)

FUNCTIONS: dict[str, str] = {
    "median_repurchase_days": "median gap in days between consecutive paid orders of the same contact",
    "top_spenders_threshold": "net spend of the k-th biggest spender, k = ceil(percent % of buyers)",
    "max": "the largest argument (missing arguments are ignored)",
    "min": "the smallest argument (missing arguments are ignored)",
}

ParamValue = int | float | str | bool | list[str] | list[int] | list[float]


class Stats(Protocol):
    """Shop-level statistics the rules may call; computed once per evaluation, lazily."""

    def median_repurchase_days(self) -> Fraction | None: ...

    def top_spenders_threshold(self, percent: Fraction) -> Fraction | None: ...


def as_datetime(text: str) -> datetime | None:
    """A string constant that is an aware ISO 8601 date-time compares with timestamp features."""
    if len(text) < 20 or text[4:5] != "-" or "T" not in text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo is not None else None


def parse(text: str) -> ast.Expression:
    try:
        return ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise RuleError(f"syntax error: {exc.msg}", exc.offset or 1) from None


def names_in(tree: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


def unknown_name_message(name: str, params: Collection[str]) -> str:
    """A close feature or parameter when there is one; otherwise every name the rule could use."""
    hint = did_you_mean(name, [*FEATURES, *params])
    if hint:
        return f"unknown name {name!r}{hint}"
    return f"unknown name {name!r}; features are {', '.join(FEATURES)}" + (
        f"; parameters are {', '.join(params)}" if params else ""
    )


def unknown_function_message(name: str) -> str:
    hint = did_you_mean(name, FUNCTIONS)
    return f"unknown function {name!r}" + (hint or f"; functions are {', '.join(FUNCTIONS)}")


# what each operator means on constants (rules fold constant sub-expressions in Python), and each
# comparison with its sides swapped
PY_COMPARE: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
MIRRORED: dict[type, type[ast.cmpop]] = {
    ast.Eq: ast.Eq,
    ast.NotEq: ast.NotEq,
    ast.Lt: ast.Gt,
    ast.LtE: ast.GtE,
    ast.Gt: ast.Lt,
    ast.GtE: ast.LtE,
}
PY_ARITH: dict[type, Callable[[Fraction, Fraction], Fraction]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}
