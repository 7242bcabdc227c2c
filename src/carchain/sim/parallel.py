"""Independent reads of the story run side by side: on a CometBFT network each export
waits for the block after the one it proves (the header carrying its app hash), so
done one after another the waits add up; done together they overlap."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")
READ_THREADS = 8


def map_in_threads(fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """Return ``[fn(x) for x in items]``, in order, computed on ``READ_THREADS`` threads;
    the first exception raised by any call is raised here."""
    with ThreadPoolExecutor(READ_THREADS, thread_name_prefix="story-read") as pool:
        return list(pool.map(fn, items))
