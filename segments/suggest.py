"""One "did you mean …" wording for every key and name a user can mistype (config keys, segments, features, filters)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def close_matches(word: str, known: Iterable[str]) -> list[str]:
    """Up to three known names close to `word`, best first (difflib's ratio, at least 0.6)."""
    return difflib.get_close_matches(word, sorted(set(known)), n=3, cutoff=0.6)


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """` (did you mean 'x'?)` to append to a message, or "" when nothing known is close."""
    matches = close_matches(word, known)
    if not matches:
        return ""
    return f" (did you mean {' or '.join(repr(m) for m in matches)}?)"
