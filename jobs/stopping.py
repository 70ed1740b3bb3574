"""Cooperative stopping: long steps check between chunks, so a stop never leaves half a chunk.

The service sets the flag on SIGTERM; each step finishes the page or chunk in hand, stores it with
its checkpoint, and raises `Interrupted`, which the cycle records as an interrupted run.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

StopCheck = Callable[[], bool]
T = TypeVar("T")
R = TypeVar("R")


class Interrupted(Exception):
    """The service is stopping; everything done so far is stored and the next run continues."""


def never() -> bool:
    return False


def check(stop: StopCheck) -> None:
    if stop():
        raise Interrupted("stopping: the current step stored its last completed chunk")


def bounded_map(
    fn: Callable[[T], R], items: Iterable[T], *, workers: int, stop: StopCheck = never
) -> Iterator[tuple[T, R]]:
    """fn over items on `workers` threads, at most `workers` in flight, results in input order.

    Once `stop()` is true no new item starts; the ones in flight are still yielded, so their
    results can be stored before the caller raises `Interrupted`.
    """
    source = iter(items)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque[tuple[T, Future[R]]] = deque()
        exhausted = False
        while True:
            while not exhausted and len(pending) < workers and not stop():
                try:
                    item = next(source)
                except StopIteration:
                    exhausted = True
                    break
                pending.append((item, pool.submit(fn, item)))
            if not pending:
                return
            item, future = pending.popleft()
            yield item, future.result()
