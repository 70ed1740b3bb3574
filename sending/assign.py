"""Who is held out, who is in an A/B test's test group, and which variant each recipient gets.

Deterministic: one SHA-256 of (campaign, occurrence, email_key) gives three independent uniform numbers,
one per decision, so a restarted process, a second instance and a re-plan all decide alike, and the
holdout share is the same in every variant and test group. The hash, not Python's `hash()` (salted per
process) nor a random generator (whose state would have to be stored).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import NamedTuple

from segmail.sending.experiments import VariantDef

_SCALE = float(2**64)
_SEP = "\x1f"  # the unit separator: no campaign name, occurrence or email contains it


class Draw(NamedTuple):
    """Three uniform numbers in [0, 1) for one recipient of one occurrence."""

    holdout: float
    test: float
    variant: float


def draw(campaign: str, occurrence: str, email_key: str) -> Draw:
    digest = hashlib.sha256(_SEP.join((campaign, occurrence, email_key)).encode()).digest()
    return Draw(
        int.from_bytes(digest[0:8], "big") / _SCALE,
        int.from_bytes(digest[8:16], "big") / _SCALE,
        int.from_bytes(digest[16:24], "big") / _SCALE,
    )


def held_out(d: Draw, percent: float) -> bool:
    return d.holdout * 100 < percent


def in_test(d: Draw, percent: float) -> bool:
    return d.test * 100 < percent


def pick_variant(d: Draw, variants: Sequence[VariantDef]) -> str:
    """The variant whose share of the weights the draw falls into (in config order)."""
    total = sum(v.weight for v in variants)
    point = d.variant * total
    upto = 0.0
    for v in variants:
        upto += v.weight
        if point < upto:
            return v.name
    return variants[-1].name  # a rounding error at the very top
