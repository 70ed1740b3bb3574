"""Shopify's cost limit as the sandbox plays it: a leaky bucket of points, and the errors it answers with."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from segmail.connector.shopify_cost import MAX_QUERY_COST

THROTTLED_ERROR: Final = {
    "message": "Throttled",
    "extensions": {"code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"},
}


class CostBucket:
    """Holds up to `maximum_available` points, restores `restore_rate` a second on `clock`.

    A query takes its requested cost before it runs and is refunded the difference to its actual cost after.
    """

    def __init__(self, maximum_available: float, restore_rate: float, clock: Callable[[], float]) -> None:
        self.maximum_available = maximum_available
        self.restore_rate = restore_rate
        self.clock = clock
        self.available = maximum_available
        self.lowest_available = maximum_available
        self.throttled = 0  # THROTTLED answers given
        self._refilled_at = clock()

    def take(self, cost: int) -> bool:
        """Whether the bucket holds `cost` after refilling; if so it is taken, else it counts as throttled."""
        self._refill()
        if self.available < cost:
            self.throttled += 1
            return False
        self.available -= cost
        self.lowest_available = min(self.lowest_available, self.available)
        return True

    def refund(self, points: int) -> None:
        self.available = min(self.maximum_available, self.available + points)

    def drain(self, to: float) -> None:
        """Leave `to` points, as another client of the same app would."""
        self._refill()
        self.available = to

    def extensions(self, requested: int, actual: int | None) -> dict[str, Any]:
        """`extensions.cost` of a response, with the bucket's throttleStatus."""
        return {"cost": {"requestedQueryCost": requested, "actualQueryCost": actual,
                         "throttleStatus": {"maximumAvailable": self.maximum_available,
                                            "currentlyAvailable": self.available,
                                            "restoreRate": self.restore_rate}}}  # fmt: skip

    def _refill(self) -> None:
        now = self.clock()
        restored = (now - self._refilled_at) * self.restore_rate
        self.available = min(self.maximum_available, self.available + restored)
        self._refilled_at = now


def max_cost_error(cost: int) -> dict[str, Any]:
    """Shopify's refusal of a query over the single-query limit, as captured from real responses.

    The message text is Shopify's (quoted in https://github.com/Shopify/shopify-app-js/issues/577);
    the `extensions` (code, cost, maxCost, documentation) follow a captured response in
    https://github.com/edstevo/laravel-shopify-graph's tests. Neither shows a top-level
    `extensions.cost` beside it, so the sandbox sends none: a client must read `cost` here.
    """
    message = (
        f"Query cost is {cost}, which exceeds the single query max cost limit ({MAX_QUERY_COST}).\n\n"
        "See https://shopify.dev/concepts/about-apis/rate-limits for more information on how the\n"
        "cost of a query is calculated.\n\n"
        "To query larger amounts of data with fewer limits, bulk operations should be used instead.\n"
        "See https://shopify.dev/api/usage/bulk-operations/queries for usage details.\n"
    )
    extensions = {"code": "MAX_COST_EXCEEDED", "cost": cost, "maxCost": MAX_QUERY_COST,
                  "documentation": "https://shopify.dev/api/usage/limits#rate-limits"}  # fmt: skip
    return {"message": message, "extensions": extensions}
