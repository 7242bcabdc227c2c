"""Which state keys certainly do not exist, answered from memory.

Registering a vehicle reads three keys that must not exist yet (its id, its key,
its key among the retired ones), and each such read went to SQLite: one B-tree
descent and a statement through Python for an answer known in advance. A
``KeyFilter`` holds two bits per key of every row of ``kv`` (Bloom, two probes of
Python's hash of ``(store, key)``, at least 16 bits a key): when a probe finds a
bit clear the key was never written, and the read is skipped; when both are set
the row is read as before. It can only err towards reading (about 1 % of absent
keys at full load): a key is added once its commit succeeded and rows are never
deleted, so it never answers "absent" for a key that exists, and state reads give
the same answers with or without it (the app hash cannot depend on it).

It grows without rescanning: when the newest layer is full a layer of four times
the capacity takes the new keys, and a lookup asks every layer (a scalable Bloom
filter). Not persisted (Python's hash of bytes is salted per process): opening a
store builds it from the rows (``StoreKeys``), at once for a small state and on a
thread of its own for a large one (about 2.3 s a million rows), reads going to
SQLite until it is ready.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator

BITS_PER_KEY = 16
MIN_CAPACITY = 1 << 16  # keys: a 128 KiB layer for a new chain
GROWTH = 4  # each new layer holds this many times the last: few layers to probe
SYNC_BUILD_ROWS = 100_000  # a state this small is scanned at open (about 0.2 s at most)


class _Layer:
    __slots__ = ("bits", "capacity", "count", "mask")

    def __init__(self, capacity: int) -> None:
        nbits = 1 << max(3, (capacity * BITS_PER_KEY - 1).bit_length())
        self.bits = bytearray(nbits >> 3)
        self.mask = nbits - 1
        self.capacity = capacity
        self.count = 0

    def add(self, h: int) -> None:
        bits, mask = self.bits, self.mask
        i = h & mask
        bits[i >> 3] |= 1 << (i & 7)
        i = (h >> 32) & mask
        bits[i >> 3] |= 1 << (i & 7)
        self.count += 1

    def may_contain(self, h: int) -> bool:
        bits, mask = self.bits, self.mask
        i = h & mask
        if not bits[i >> 3] & (1 << (i & 7)):
            return False
        i = (h >> 32) & mask
        return bool(bits[i >> 3] & (1 << (i & 7)))


class KeyFilter:
    """The keys of ``kv`` as a Bloom filter: ``may_contain`` is ``False`` only for a key
    that was never added."""

    __slots__ = ("_layers",)

    def __init__(self, capacity: int = MIN_CAPACITY) -> None:
        self._layers = [_Layer(max(MIN_CAPACITY, capacity))]

    @classmethod
    def from_keys(cls, keys: Iterable[tuple[str, bytes]], count: int) -> KeyFilter:
        """Return a filter of ``keys`` (about ``count`` of them), with room for as many again."""
        built = cls(2 * count)
        add = built.add
        for store, key in keys:
            add(store, key)
        return built

    def add(self, store: str, key: bytes) -> None:
        """Remember that ``key`` exists in ``store``."""
        layer = self._layers[-1]
        if layer.count >= layer.capacity:
            layer = _Layer(GROWTH * layer.capacity)
            self._layers.append(layer)
        layer.add(hash((store, key)))

    def may_contain(self, store: str, key: bytes) -> bool:
        """Return ``False`` if ``key`` was certainly never added, else ``True``."""
        h = hash((store, key))
        layers = self._layers
        if len(layers) == 1:
            return layers[0].may_contain(h)
        return any(layer.may_contain(h) for layer in layers)

    @property
    def layers(self) -> int:
        """How many layers the filter has grown to."""
        return len(self._layers)


class StoreKeys:
    """The keys of a store's ``kv`` rows, for ``may_contain``: ``True`` until the filter is
    built, then the filter's answer. ``add_many`` (after each successful commit) reaches
    the filter, or, while it is being built, a list it takes in before it is used, so
    no key committed during the build is missed."""

    def __init__(self, conn: sqlite3.Connection, path: str, rows: int) -> None:
        self._lock = threading.Lock()
        self._filter: KeyFilter | None = None
        self._pending: list[tuple[str, bytes]] = []
        self._thread: threading.Thread | None = None
        if rows <= SYNC_BUILD_ROWS or path in ("", ":memory:"):
            self._filter = KeyFilter.from_keys(_scan(conn), rows)
        else:
            self._thread = threading.Thread(
                target=self._build, args=(path, rows), name="carchain-key-filter", daemon=True
            )
            self._thread.start()

    @property
    def ready(self) -> bool:
        """Whether the filter answers (else every read goes to SQLite)."""
        return self._filter is not None

    def wait_ready(self, timeout_s: float | None = None) -> bool:
        """Wait for a build under way; return ``ready``."""
        if self._thread is not None:
            self._thread.join(timeout_s)
        return self.ready

    def may_contain(self, store: str, key: bytes) -> bool:
        """Return ``False`` only for a key that certainly has no row."""
        built = self._filter
        return True if built is None else built.may_contain(store, key)

    def add_many(self, keys: Iterable[tuple[str, bytes]]) -> None:
        """Remember committed new rows."""
        with self._lock:
            if self._filter is None:
                self._pending.extend(keys)
                return
            add = self._filter.add
            for store, key in keys:
                add(store, key)

    def _build(self, path: str, rows: int) -> None:
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        except sqlite3.Error:
            return  # no filter: every read goes to SQLite, as without one
        try:
            built = KeyFilter.from_keys(_scan(conn), rows)
        except sqlite3.Error:
            return
        finally:
            conn.close()
        with self._lock:
            for store, key in self._pending:
                built.add(store, key)
            self._pending = []
            self._filter = built


def _scan(conn: sqlite3.Connection) -> Iterator[tuple[str, bytes]]:
    for store, key in conn.execute("SELECT store, key FROM kv"):
        yield store, bytes(key)
