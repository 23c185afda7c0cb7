"""Ordered parallel map with a bounded number of items in flight (bounded memory whatever the input size)."""

from __future__ import annotations

from collections import deque
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def ordered_map(func: Callable[..., R], items: Iterable[T], workers: int, *args) -> Iterator[R]:
    """``func(item, *args)`` for each item, results in input order; ``workers`` processes (1: in this process),
    at most ``2 x workers`` items submitted but not yet consumed."""
    if workers <= 1:
        for item in items:
            yield func(item, *args)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        pending: deque = deque()
        queue = iter(items)
        for item in queue:
            pending.append(pool.submit(func, item, *args))
            if len(pending) >= 2 * workers:
                break
        while pending:
            result = pending.popleft().result()
            item = next(queue, None)
            if item is not None:
                pending.append(pool.submit(func, item, *args))
            yield result
