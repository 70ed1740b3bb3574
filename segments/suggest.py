"""One "did you mean …" wording for every key and name a user can mistype (config keys, segments, features, filters)."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable


def did_you_mean(word: str, known: Iterable[str], *, key: Callable[[str], str] = str) -> str:
    """` (did you mean 'x'?)` with the closest known name (difflib's ratio, at least 0.6), or "".

    `key` picks what is compared, e.g. a file name without its `.html`, which every candidate shares.
    """
    by_key = {key(name): name for name in sorted(set(known))}
    matches = difflib.get_close_matches(key(word), list(by_key), n=1, cutoff=0.6)
    return f" (did you mean {by_key[matches[0]]!r}?)" if matches else ""
