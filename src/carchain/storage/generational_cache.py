"""A bounded cache that forgets the least recently used entries half at a time.

Two generations of at most ``limit / 2`` entries each: new entries and hits go
into the young one; when it is full it becomes the old one and the previous old
one is dropped. An entry used at least once per half-cache of insertions stays,
so the hot part of a working set (the upper levels of a Merkle tree, a block's
recent keys) survives the cache filling up, where clearing everything at once
made every block after a clear read its whole path back from disk. Each lookup
is one or two dict probes: an approximate LRU at dict speed.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class GenerationalCache(Generic[K, V]):
    """Map of at most ``limit`` entries that drops the older half when the newer fills."""

    __slots__ = ("_half", "_old", "_young")

    def __init__(self, limit: int) -> None:
        if limit < 2:
            raise ValueError("a generational cache holds at least 2 entries")
        self._half = limit // 2
        self._young: dict[K, V] = {}
        self._old: dict[K, V] = {}

    def __len__(self) -> int:
        return len(self._young) + len(self._old)

    def __contains__(self, key: K) -> bool:
        return key in self._young or key in self._old

    def get(self, key: K) -> V | None:
        """Return the cached value or ``None``; a hit in the old half moves it to the young."""
        value = self._young.get(key)
        if value is not None:
            return value
        value = self._old.pop(key, None)
        if value is not None:
            self.put(key, value)
        return value

    def put(self, key: K, value: V) -> None:
        """Cache ``value`` under ``key`` (values must not be ``None``)."""
        young = self._young
        young[key] = value
        if len(young) >= self._half:
            self._old, self._young = young, {}

    def update(self, items: Iterable[tuple[K, V]]) -> None:
        """Cache every ``(key, value)`` pair (one block's writes: the young half may pass
        its limit by that many before it turns old)."""
        young = self._young
        young.update(items)
        if len(young) >= self._half:
            self._old, self._young = young, {}

    def discard(self, key: K) -> None:
        """Forget ``key`` if cached."""
        self._young.pop(key, None)
        self._old.pop(key, None)

    def clear(self) -> None:
        """Forget everything."""
        self._young, self._old = {}, {}
