"""Past state versions: an undo log of values and commitment nodes over a window of heights.

Every current row of ``kv`` and ``nodes`` carries the height that wrote it.
Committing block ``H`` also copies, tagged ``H``, the current row of every key and
every commitment node that the block overwrites (its value or hash, and the height
that had written it), and writes one ``state_versions`` row with the app hash and
each store's size and root after ``H``. Rows a block creates (new keys, nodes that
just became complete) had nothing before and get no history row. So a block adds
O(changes · log n) rows, never a copy of the state; and since history is keyed by
height first, a block appends its rows in one place and pruning deletes from the
front: the pages a commit writes do not depend on the window either.

Reading at height ``h`` below the latest follows a row's chain back: the current
row if it was written at or before ``h``, else the history row tagged with its
write height (what that block overwrote), and so on. Whether a key existed at ``h``
follows from its leaf index, since leaves are appended in first-write order and
never move: it did iff its leaf is below the store's size at ``h``. A commitment
node is only ever asked for when it was complete at ``h``'s size, so it existed
then. Proofs built from these nodes are the same CometBFT ``simple:v`` proofs as at
the latest height, against the app hash of ``h``.

Pruning runs in the commit's transaction and deletes exactly what the oldest
height still in the window no longer needs: with a fixed window that is one
height's rows per block, so the cost per block does not grow with the window.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from typing import Protocol

import msgspec

from carchain.core.state import STORES
from carchain.errors import StorageCorrupted
from carchain.storage.database import Database

DEFAULT_STATE_VERSIONS = 100

NodeKey = tuple[str, int, int]
ValueKey = tuple[str, bytes]


class CurrentState(Protocol):
    """The latest committed state, as ``PastState`` reads it."""

    db: Database

    def get_leaf_index(self, store: str, key: bytes) -> int | None:
        """Return a key's leaf position."""


class VersionRoots(msgspec.Struct, frozen=True, array_like=True):
    """One store's tree size and root at a height."""

    store: str
    size: int
    root: bytes


def validate_state_versions(versions: int) -> None:
    """Raise ``ValueError`` unless ``versions`` keeps at least the latest height."""
    if isinstance(versions, bool) or not isinstance(versions, int) or versions < 1:
        raise ValueError("state_versions must be an integer of at least 1")


def compute_oldest_height(height: int, versions: int) -> int:
    """Return the oldest height a window of ``versions`` heights keeps at ``height``."""
    return max(0, height - versions + 1)


def record_history(
    conn: sqlite3.Connection, height: int, values: Iterable[ValueKey], nodes: Iterable[NodeKey]
) -> None:
    """Copy the current rows of keys and nodes about to be overwritten, tagged ``height``.

    Call inside the commit's transaction, before the new rows are written. Keys
    and nodes without a current row (new ones) copy nothing. A height committed
    again (only tests and repairs do that) keeps the rows of its first commit:
    they hold the state before that height, which the second commit did not change.
    """
    conn.executemany(
        "INSERT OR IGNORE INTO kv_history (height, store, key, value, written) "
        "SELECT ?, store, key, value, height FROM kv WHERE store = ? AND key = ?",
        [(height, s, k) for s, k in values],
    )
    conn.executemany(
        "INSERT OR IGNORE INTO node_history (height, store, level, idx, hash, written) "
        "SELECT ?, store, level, idx, hash, height FROM nodes "
        "WHERE store = ? AND level = ? AND idx = ?",
        [(height, s, lv, ix) for s, lv, ix in nodes],
    )


def record_version(
    conn: sqlite3.Connection,
    height: int,
    app_hash: bytes,
    sizes: dict[str, int],
    roots: dict[str, bytes],
    replace: bool = True,
) -> None:
    """Write the app hash and each store's size and root after ``height``.

    With ``replace`` false, an existing row for ``height`` is kept.
    """
    encoded = msgspec.msgpack.encode([VersionRoots(s, sizes[s], roots[s]) for s in STORES])
    verb = "REPLACE" if replace else "IGNORE"
    conn.execute(
        f"INSERT OR {verb} INTO state_versions (height, app_hash, roots) VALUES (?, ?, ?)",
        (height, app_hash, encoded),
    )


def prune_history(conn: sqlite3.Connection, oldest: int) -> None:
    """Delete what reads at ``oldest`` and later never need (inside the commit)."""
    # A history row tagged t restores the state before t, i.e. serves reads at
    # heights below t: rows tagged <= oldest serve no height in the window.
    conn.execute("DELETE FROM kv_history WHERE height <= ?", (oldest,))
    conn.execute("DELETE FROM node_history WHERE height <= ?", (oldest,))
    conn.execute("DELETE FROM state_versions WHERE height < ?", (oldest,))


def get_version_roots(
    conn: sqlite3.Connection, height: int
) -> tuple[bytes, dict[str, int], dict[str, bytes]] | None:
    """Return ``(app hash, sizes, roots)`` kept for ``height``, or ``None``."""
    row = conn.execute(
        "SELECT app_hash, roots FROM state_versions WHERE height = ?", (height,)
    ).fetchone()
    if row is None:
        return None
    try:
        entries = msgspec.msgpack.decode(bytes(row[1]), type=list[VersionRoots])
    except msgspec.DecodeError as exc:
        raise StorageCorrupted("state version row is malformed", height=height) from exc
    sizes = {e.store: e.size for e in entries}
    roots = {e.store: e.root for e in entries}
    if set(sizes) != set(STORES):
        raise StorageCorrupted("state version row lacks stores", height=height)
    return bytes(row[0]), sizes, roots


def get_oldest_version(conn: sqlite3.Connection) -> int | None:
    """Return the lowest height with a kept version row, or ``None``."""
    row = conn.execute("SELECT MIN(height) FROM state_versions").fetchone()
    return None if row is None or row[0] is None else int(row[0])


def get_value_at(conn: sqlite3.Connection, store: str, key: bytes, height: int) -> bytes:
    """Return the value ``key`` had at ``height`` (it must have existed then)."""
    row = conn.execute(
        "SELECT value, height FROM kv WHERE store = ? AND key = ?", (store, key)
    ).fetchone()
    return _follow_chain(
        row,
        height,
        lambda written: conn.execute(
            "SELECT value, written FROM kv_history WHERE height = ? AND store = ? AND key = ?",
            (written, store, key),
        ).fetchone(),
        store,
    )


def get_node_at(conn: sqlite3.Connection, store: str, level: int, idx: int, height: int) -> bytes:
    """Return the hash node ``(level, idx)`` had at ``height`` (it must have existed then)."""
    row = conn.execute(
        "SELECT hash, height FROM nodes WHERE store = ? AND level = ? AND idx = ?",
        (store, level, idx),
    ).fetchone()
    return _follow_chain(
        row,
        height,
        lambda written: conn.execute(
            "SELECT hash, written FROM node_history "
            "WHERE height = ? AND store = ? AND level = ? AND idx = ?",
            (written, store, level, idx),
        ).fetchone(),
        store,
    )


def _follow_chain(
    row: tuple[bytes, int] | None,
    height: int,
    get_overwritten: Callable[[int], tuple[bytes, int] | None],
    store: str,
) -> bytes:
    """Walk from the current row to the one written at or before ``height``."""
    while row is not None and int(row[1]) > height:
        written = int(row[1])
        row = get_overwritten(written)
        if row is not None and int(row[1]) >= written:
            raise StorageCorrupted("state history goes forward in time", store=store)
    if row is None:
        raise StorageCorrupted("state history missing", store=store, height=height)
    return bytes(row[0])


class PastState:
    """Committed state as it was at one past height of the window (read-only).

    Serves the reads a proof needs: ``get``, ``get_leaf_index``, ``get_node``,
    with that height's ``sizes``, ``roots`` and ``app_hash``; leaf positions come
    from ``base`` (the ``StateStore``), values and nodes from their row chains.
    """

    def __init__(
        self,
        base: CurrentState,
        height: int,
        app_hash: bytes,
        sizes: dict[str, int],
        roots: dict[str, bytes],
    ) -> None:
        self.base = base
        self.height = height
        self.app_hash = app_hash
        self.sizes = sizes
        self.roots = roots
        self._conn = base.db.conn

    def get_leaf_index(self, store: str, key: bytes) -> int | None:
        """Return the key's leaf position if the key existed at this height."""
        idx = self.base.get_leaf_index(store, key)
        return idx if idx is not None and idx < self.sizes.get(store, 0) else None

    def get(self, store: str, key: bytes) -> bytes | None:
        """Return the value at this height, ``None`` if absent or deleted then."""
        if self.get_leaf_index(store, key) is None:
            return None
        return get_value_at(self._conn, store, key, self.height) or None

    def get_node(self, store: str, level: int, idx: int) -> bytes:
        """Return a commitment node of this height's tree."""
        return get_node_at(self._conn, store, level, idx, self.height)
