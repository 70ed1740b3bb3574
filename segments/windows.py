"""How far back the rules look at opens and clicks: the engagement window a Mailchimp pull must cover."""

from __future__ import annotations

import ast
from collections.abc import Iterable

from segmail.segments.config import SegmentDef
from segmail.segments.rules import names_in, parse

ENGAGEMENT_FEATURES = frozenset(
    {
        "last_open_at",
        "last_click_at",
        "last_engagement_at",
        "days_since_last_open",
        "days_since_last_click",
        "days_since_last_engagement",
    }
)
DEFAULT_ENGAGEMENT_DAYS = 365.0


def uses_engagement(defn: SegmentDef) -> bool:
    """Whether the rule reads opens or clicks at all."""
    return bool(names_in(parse(defn.rule)) & ENGAGEMENT_FEATURES)


def engagement_window_days(defs: Iterable[SegmentDef]) -> float:
    """The longest look-back any of these rules makes over opens/clicks (its largest day parameter).

    A rule over engagement without a number (`last_open_at is None`) needs DEFAULT_ENGAGEMENT_DAYS;
    so does a pull when no rule looks at engagement at all."""
    longest = 0.0
    for defn in defs:
        tree = parse(defn.rule)
        names = names_in(tree)
        if not names & ENGAGEMENT_FEATURES:
            continue
        numbers = [float(v) for k, v in defn.params.items() if k in names and isinstance(v, int | float)]
        numbers += [
            float(n.value)
            for n in ast.walk(tree)
            if isinstance(n, ast.Constant)
            and isinstance(n.value, int | float)
            and not isinstance(n.value, bool)
        ]
        longest = max([longest, *numbers]) if numbers else max(longest, DEFAULT_ENGAGEMENT_DAYS)
    return longest or DEFAULT_ENGAGEMENT_DAYS
