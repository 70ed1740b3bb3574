"""Members' pages read concurrently yet handed on in order, and the overlap check that proves none was skipped."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from segmail.connector.http import TransientError

T = TypeVar("T")


def overlapping_pages(
    fetch: Callable[[int], dict[str, Any]], *, page_size: int, overlap: int, workers: int
) -> Iterator[tuple[int, list[Any]]]:
    """(offset of the first new member, the new members) for every page `fetch(offset)` answers, in order.

    The first page gives the total; the rest are fetched at most `workers` at a time, each starting
    `overlap` members before the previous one ends, and only the members after the overlap are handed on.
    """
    first = fetch(0)
    previous: list[Any] = first.get("members") or []
    yield 0, previous
    step = page_size - overlap
    # a page is needed while members lie past the previous page's end (offset - step + page_size)
    offsets = range(step, int(first.get("total_items") or 0) - overlap, step)
    for offset, data in zip(offsets, _in_order(fetch, offsets, workers), strict=True):
        page: list[Any] = data.get("members") or []
        start = _after_overlap(previous, page, page_size=page_size, overlap=overlap)
        yield offset + start, page[start:]
        previous = page


def _after_overlap(previous: Sequence[Any], page: Sequence[Any], *, page_size: int, overlap: int) -> int:
    """Where the new members of `page` begin, given the page read before it (see `MailchimpApi.members`)."""
    keys = [_member_key(item) for item in page]
    if not previous or not page:
        return 0
    last = _member_key(previous[-1])
    if last in keys:
        return keys.index(last) + 1
    if len(previous) < page_size:  # the previous page was the end when read: what follows came later
        seen = {_member_key(item) for item in previous}
        return next((i for i, key in enumerate(keys) if key not in seen), len(keys))
    raise TransientError(
        f"list members: more than {overlap} members changed between two page reads, so some may "
        "have been skipped; the next pull reads on from the last stored page"
    )


def _member_key(item: Any) -> str:
    return str(item.get("email_address") or "").strip().lower() if isinstance(item, dict) else ""


def _in_order(fetch: Callable[[int], T], offsets: Sequence[int], workers: int) -> Iterator[T]:
    """fetch(offset) for every offset, at most `workers` at a time, results in offset order."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque[Future[T]] = deque()
        for offset in offsets:
            pending.append(pool.submit(fetch, offset))
            if len(pending) >= workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
