"""Who is held out, who is in an A/B test's test group, and which variant each recipient gets.

Deterministic: one SHA-256 of (campaign, occurrence, email_key) gives three independent uniform numbers,
one per decision, so a restarted process, a second instance and a re-plan all decide alike, and the
holdout share is the same in every variant and test group. The hash, not Python's `hash()` (salted per
process) nor a random generator (whose state would have to be stored).
"""

from __future__ import annotations

import hashlib
import struct
from bisect import bisect_right
from collections.abc import Sequence
from typing import NamedTuple

from segmail.sending.experiments import VariantDef

_SCALE = float(2**64)
_THREE = struct.Struct(">QQQ").unpack_from  # the digest's first 24 bytes as three 64-bit integers


class Draw(NamedTuple):
    """Three uniform numbers in [0, 1) for one recipient of one occurrence."""

    holdout: float
    test: float
    variant: float


def draw(campaign: str, occurrence: str, email_key: str) -> Draw:
    # \x1f (unit separator) between the parts: no campaign name, occurrence or email contains it
    h, t, v = _THREE(hashlib.sha256(f"{campaign}\x1f{occurrence}\x1f{email_key}".encode()).digest())
    return Draw(h / _SCALE, t / _SCALE, v / _SCALE)


def held_out(d: Draw, percent: float) -> bool:
    return d.holdout * 100 < percent


def in_test(d: Draw, percent: float) -> bool:
    return d.test * 100 < percent


class VariantPicker:
    """The variant whose share of the weights a draw falls into, variants in config order."""

    def __init__(self, variants: Sequence[VariantDef]) -> None:
        total = sum(v.weight for v in variants)
        upto, bounds = 0.0, []
        for v in variants:
            upto += v.weight
            bounds.append(upto / total)
        self.names = tuple(v.name for v in variants)
        self.bounds = tuple(bounds)

    def __call__(self, d: Draw) -> str:
        # min(): a rounding error can leave the last bound a hair under 1
        return self.names[min(bisect_right(self.bounds, d.variant), len(self.names) - 1)]


def pick_variant(d: Draw, variants: Sequence[VariantDef]) -> str:
    return VariantPicker(variants)(d)
