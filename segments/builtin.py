"""The lifecycle segments (five on by default, two predictive ones off), written in the rule language with named parameters.

They are data, not code: a marketer can override `rule` or any parameter in
`[segments.NAME]`, or copy a rule into a custom segment.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WelcomeParams(_Params):
    window_days: float = Field(30, gt=0, description="opted in within this many days before T (inclusive)")


class RepeatBuyerParams(_Params):
    min_orders: int = Field(2, ge=1, description="at least this many paid orders")


class VipParams(_Params):
    top_percent: float = Field(10, gt=0, le=100, description="share of buyers, by net spend, that are VIP")
    min_spent: float = Field(0, ge=0, description="and at least this net spend")


class LapsedParams(_Params):
    min_days: float = Field(
        30, ge=0, description="never lapsed sooner than this many days after the last order"
    )
    interval_multiplier: float = Field(2.0, gt=0, description="x the shop's median repurchase gap")


class UnengagedParams(_Params):
    grace_days: float = Field(90, ge=0, description="opted in at least this many days before T")
    window_days: float = Field(180, gt=0, description="no open, click or paid order in this many days")


class AtRiskParams(_Params):
    min_orders: int = Field(2, ge=1, description="a repeat buyer: at least this many paid orders")
    max_p_alive: float = Field(
        0.5, gt=0, le=1, description="whose probability of still buying fell below this"
    )
    min_clv_percentile: float = Field(
        50, ge=0, le=100, description="and who is still worth more than this share of the buyers"
    )


class HighPotentialParams(_Params):
    max_orders: int = Field(2, ge=1, description="early in the relationship: at most this many paid orders")
    min_clv_percentile: float = Field(
        80, ge=0, le=100, description="predicted to be worth more than this share of the buyers"
    )
    min_p_alive: float = Field(0.7, ge=0, le=1, description="and most likely still buying")


@dataclass(frozen=True)
class Builtin:
    rule: str
    params: type[_Params]
    description: str
    enabled: bool = True  # the predictive ones ship off: turning them on is the shop's choice


BUILTINS: dict[str, Builtin] = {
    "welcome": Builtin(
        rule=(
            'status == "subscribed" and opted_in_at is not None'
            " and days_since_opt_in >= 0 and days_since_opt_in <= window_days and orders_count == 0"
        ),
        params=WelcomeParams,
        description="new subscribers without a paid order yet",
    ),
    "repeat_buyer": Builtin(
        rule="orders_count >= min_orders",
        params=RepeatBuyerParams,
        description="bought at least min_orders times",
    ),
    "vip": Builtin(
        rule=(
            "orders_count >= 1 and total_spent >= top_spenders_threshold(top_percent)"
            " and total_spent >= min_spent"
        ),
        params=VipParams,
        description="top spenders (ties at the threshold included)",
    ),
    "lapsed": Builtin(
        rule=(
            "orders_count >= 1 and days_since_last_order >"
            " max(min_days, interval_multiplier * median_repurchase_days())"
        ),
        params=LapsedParams,
        description="no order for much longer than the shop's usual repurchase interval",
    ),
    "unengaged": Builtin(
        rule=(
            'status == "subscribed" and (opted_in_at is None or days_since_opt_in >= grace_days)'
            " and (last_engagement_at is None or days_since_last_engagement > window_days)"
            " and (last_order_at is None or days_since_last_order > window_days)"
        ),
        params=UnengagedParams,
        description="no opens, clicks or orders for a long time",
    ),
    # predictive (segments.predictive): they read the stored fit, so they ship disabled and change
    # nothing for a shop until it enables them (`[segments.at_risk] enabled = true`)
    "at_risk": Builtin(
        rule="orders_count >= min_orders and p_alive < max_p_alive and clv_percentile >= min_clv_percentile",
        params=AtRiskParams,
        description="valuable repeat buyers who have probably stopped buying (BG/NBD p_alive)",
        enabled=False,
    ),
    "high_potential": Builtin(
        rule=(
            "orders_count >= 1 and orders_count <= max_orders and clv_percentile >= min_clv_percentile"
            " and p_alive >= min_p_alive"
        ),
        params=HighPotentialParams,
        description="new buyers predicted to be among the most valuable (BG/NBD x Gamma-Gamma)",
        enabled=False,
    ),
}
