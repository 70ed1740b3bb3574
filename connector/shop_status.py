"""Shop order statuses mapped onto segmail's canonical ones, per platform, overridable in `[shop.statuses]`.

Canonical statuses: `paid`, `processing`, `completed`, `partially_refunded` (the default paid set),
`refunded`, `cancelled`, `pending`, `failed`. Refund amounts are carried separately, so a partially
refunded order still counts with its net amount.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

CANONICAL: Final = frozenset(
    {"paid", "processing", "completed", "partially_refunded", "refunded", "cancelled", "pending", "failed"}
)

DEFAULTS: Final[dict[str, dict[str, str]]] = {
    # WooCommerce order statuses (REST v3 `status`)
    "woocommerce": {
        "pending": "pending",
        "processing": "processing",
        "on-hold": "pending",
        "completed": "completed",
        "cancelled": "cancelled",
        "refunded": "refunded",
        "failed": "failed",
        "trash": "cancelled",
        "checkout-draft": "pending",
    },
    # Shopify `displayFinancialStatus` (OrderDisplayFinancialStatus, 2025-01); a cancelled order is
    # `cancelled` whatever its financial status
    "shopify": {
        "pending": "pending",
        "authorized": "pending",
        "partially_paid": "pending",
        "paid": "paid",
        "partially_refunded": "partially_refunded",
        "refunded": "refunded",
        "voided": "cancelled",
        "expired": "cancelled",
    },
    # Mailchimp e-commerce `financial_status` (free text set by the shop's integration)
    "mailchimp": {
        "paid": "paid",
        "pending": "pending",
        "refunded": "refunded",
        "partially_refunded": "partially_refunded",
        "cancelled": "cancelled",
        "canceled": "cancelled",
        "failed": "failed",
    },
    "csv": {},
}


def status_map(platform: str, overrides: Mapping[str, str]) -> dict[str, str]:
    """The platform's defaults with the config's overrides (keys lower-cased)."""
    merged = dict(DEFAULTS.get(platform, {}))
    merged.update({k.strip().lower(): v for k, v in overrides.items()})
    return merged


def canonical(platform_status: str, mapping: Mapping[str, str]) -> str | None:
    """The canonical status, or None when the platform status is unknown (the order is reported, not guessed)."""
    return mapping.get(platform_status.strip().lower().replace(" ", "_"))
