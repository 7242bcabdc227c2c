"""Committed state in SQLite with its Merkle commitment, and per-block overlays."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence

from carchain.core.state import STORE_SET, STORES
from carchain.crypto.merkle import (
    MerkleProof,
    compute_kv_leaf,
    compute_kv_leaf_hash,
    compute_leaf_hash,
    compute_proofs,
    compute_root_from_leaf_hashes,
)
from carchain.errors import HeightUnavailable, NotFound, StorageCorrupted
from carchain.storage import commitment, history
from carchain.storage.database import Database
from carchain.storage.generational_cache import GenerationalCache
from carchain.storage.history import DEFAULT_STATE_VERSIONS, PastState
from carchain.storage.key_filter import StoreKeys
from carchain.storage.ports import CommitParticipant, StateVersion

# Generational caches (half dropped at a time, never all): the node cache keeps the
# tree's hot upper levels and a block's recent paths; the value cache holds each
# key's committed value with its leaf, or that it has no row.
_NODE_CACHE_LIMIT = 2_000_000
_VALUE_CACHE_LIMIT = 500_000
_NO_ROW: tuple[bytes | None, int | None] = (None, None)
_TOMBSTONE = b""
_LEAF_QUERY_KEYS = 500  # keys per leaf-position query (SQLite allows 32,766 parameters)
_STORE_PROOF_CACHE_LIMIT = 64
# Proofs of each store root under an app hash: a page of N state proofs at one
# height re-derived them N times (half of an access-log page's cost). Keyed by the
# store roots the proofs are computed from (a pure function of them), not by the
# view's app hash: a reader that sees new roots with the old app hash mid-commit
# would otherwise cache the new roots' proofs under the old app hash.
_store_proofs: dict[bytes, list[MerkleProof]] = {}


class StateProof:
    """A value with the two-step proof: key in store root, store root in app hash."""

    __slots__ = ("app_hash", "key", "store", "store_proof", "store_root", "value", "value_proof")

    def __init__(
        self,
        store: str,
        key: bytes,
        value: bytes,
        value_proof: MerkleProof,
        store_root: bytes,
        store_proof: MerkleProof,
        app_hash: bytes,
    ) -> None:
        self.store = store
        self.key = key
        self.value = value
        self.value_proof = value_proof
        self.store_root = store_root
        self.store_proof = store_proof
        self.app_hash = app_hash


def compute_state_proof(view: StateVersion, store: str, key: bytes) -> StateProof:
    """Return ``key``'s value in ``view`` with its proof against ``view``'s app hash.

    A key that was deleted proves its empty value; a key that did not exist at
    that height has no leaf, and this raises ``NotFound``.
    """
    if store not in STORE_SET:
        raise NotFound("no such store", store=store)
    idx = view.get_leaf_index(store, key)
    if idx is None:
        raise NotFound("key was never written", store=store, height=view.height)
    value = view.get(store, key) or _TOMBSTONE
    vproof = commitment.compute_proof(
        view.sizes[store], idx, lambda lv, ix: view.get_node(store, lv, ix)
    )
    if vproof.leaf_hash != compute_kv_leaf_hash(key, value):
        raise StorageCorrupted("leaf does not match stored value", store=store)
    sproof = compute_store_proofs(view)[STORES.index(store)]
    return StateProof(store, key, value, vproof, view.roots[store], sproof, view.app_hash)


def compute_store_proofs(view: StateVersion) -> list[MerkleProof]:
    """Return the proof of every store root under ``view``'s app hash, in ``STORES`` order.

    Kept in a small cache by the store roots, so proofs read at one height share them.
    """
    current = view.roots  # one dict: a commit swaps it whole
    roots = [current[s] for s in STORES]
    key = b"".join(roots)
    proofs = _store_proofs.get(key)
    if proofs is None:
        _, proofs = compute_proofs(
            [compute_kv_leaf(s.encode(), r) for s, r in zip(STORES, roots, strict=True)]
        )
        if len(_store_proofs) >= _STORE_PROOF_CACHE_LIMIT:
            _store_proofs.clear()
        _store_proofs[key] = proofs
    return proofs


class StateStore:
    """The committed state of a node, the commitment over it and its recent versions.

    ``versions`` is the window: the latest height and the ``versions - 1``
    before it can be read and proven (see ``storage/history.py``).
    """

    def __init__(self, db: Database, versions: int = DEFAULT_STATE_VERSIONS) -> None:
        history.validate_state_versions(versions)
        self.db = db
        self.versions = versions
        self._conn: sqlite3.Connection = db.conn
        self._nodes: GenerationalCache[tuple[str, int, int], bytes] = GenerationalCache(
            _NODE_CACHE_LIMIT
        )
        # (store, key) -> (committed value or None if deleted, leaf); _NO_ROW if absent.
        self._values: GenerationalCache[tuple[str, bytes], tuple[bytes | None, int | None]] = (
            GenerationalCache(_VALUE_CACHE_LIMIT)
        )
        self.sizes: dict[str, int] = {s: 0 for s in STORES}
        for store in STORES:
            raw = db.get_meta(f"size/{store}")
            if raw is not None:
                self.sizes[store] = int.from_bytes(raw, "big")
        self.keys = StoreKeys(self._conn, db.path, sum(self.sizes.values()))
        raw_h = db.get_meta("height")
        self.height = 0 if raw_h is None else int.from_bytes(raw_h, "big")
        self.app_hash = db.get_meta("app_hash") or b""
        self.roots = {s: self.compute_store_root(s) for s in STORES}
        if self.height and self.compute_app_hash(self.roots) != self.app_hash:
            raise StorageCorrupted("state commitment does not match the stored app hash")

    # --- reads -------------------------------------------------------------

    def get(self, store: str, key: bytes) -> bytes | None:
        """Return the committed value, or ``None``.

        Reads go through a bounded cache of committed values (absent keys too),
        kept exact by updating it on every commit.
        """
        return self._read_row(store, key)[0]

    def _read_row(self, store: str, key: bytes) -> tuple[bytes | None, int | None]:
        """Return the key's committed ``(value or None, leaf or None)``, cached."""
        ck = (store, key)
        cached = self._values.get(ck)
        if cached is not None:
            return cached
        if not self.keys.may_contain(store, key):
            return _NO_ROW
        row = self._conn.execute(
            "SELECT value, leaf FROM kv WHERE store = ? AND key = ?", ck
        ).fetchone()
        entry = _NO_ROW if row is None else (bytes(row[0]) or None, int(row[1]))
        self._values.put(ck, entry)
        return entry

    def set(self, store: str, key: bytes, value: bytes) -> None:
        """Committed state is read-only; write through a ``BlockOverlay``."""
        raise TypeError("committed state is read-only")

    def delete(self, store: str, key: bytes) -> None:
        """Committed state is read-only; write through a ``BlockOverlay``."""
        raise TypeError("committed state is read-only")

    def get_leaf_index(self, store: str, key: bytes) -> int | None:
        """Return the key's leaf position, or ``None`` if it was never written."""
        return self._read_row(store, key)[1]

    def get_leaf_indexes(self, store: str, keys: Sequence[bytes]) -> dict[bytes, int]:
        """Return the leaf positions of those ``keys`` that were ever written (one query
        per ``_LEAF_QUERY_KEYS`` keys instead of one per key)."""
        found: dict[bytes, int] = {}
        asked = []
        for k in keys:
            cached = self._values.get((store, k))
            if cached is None:
                if self.keys.may_contain(store, k):
                    asked.append(k)
            elif cached[1] is not None:
                found[k] = cached[1]
        for i in range(0, len(asked), _LEAF_QUERY_KEYS):
            chunk = asked[i : i + _LEAF_QUERY_KEYS]
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(
                f"SELECT key, leaf FROM kv WHERE store = ? AND key IN ({marks})", (store, *chunk)
            )
            found.update((bytes(k), int(leaf)) for k, leaf in rows)
        return found

    def iterate(
        self, store: str, prefix: bytes, limit: int, after: bytes = b""
    ) -> Iterator[tuple[bytes, bytes]]:
        """Yield up to ``limit`` live pairs whose key has ``prefix``, keys after ``after``."""
        start = max(prefix, after + b"\x00") if after else prefix
        rows = self._conn.execute(
            "SELECT key, value FROM kv WHERE store = ? AND key >= ? AND value != x'' "
            "ORDER BY key LIMIT ?",
            (store, start, limit * 2 + 16),
        )
        for n, (key, value) in enumerate(rows, start=1):
            k = bytes(key)
            if not k.startswith(prefix):
                break
            yield k, bytes(value)
            if n >= limit:
                break

    def get_node(self, store: str, level: int, idx: int) -> bytes:
        """Return a stored commitment node; raise ``StorageCorrupted`` if it is missing."""
        k = (store, level, idx)
        h = self._nodes.get(k)
        if h is not None:
            return h
        row = self._conn.execute(
            "SELECT hash FROM nodes WHERE store = ? AND level = ? AND idx = ?", k
        ).fetchone()
        if row is None:
            raise StorageCorrupted("commitment node missing", store=store, level=level, idx=idx)
        h = bytes(row[0])
        self._nodes.put(k, h)
        return h

    def compute_store_root(self, store: str) -> bytes:
        """Return the committed root of one store."""
        return commitment.compute_root(
            self.sizes[store], lambda lv, ix: self.get_node(store, lv, ix)
        )

    @staticmethod
    def compute_app_hash(roots: dict[str, bytes]) -> bytes:
        """Return the app hash over every store's root, in ``STORES`` order."""
        return compute_root_from_leaf_hashes(_app_leaf_hashes(roots))

    def prove(self, store: str, key: bytes, height: int = 0) -> StateProof:
        """Return ``key``'s value at ``height`` (0: latest) with its proof against that app hash.

        A key that was deleted proves its empty value; a key never written (by
        then) has no leaf, and this raises ``NotFound``; a height outside the
        window raises ``HeightUnavailable``.
        """
        return compute_state_proof(self.get_version(height), store, key)

    # --- past versions -----------------------------------------------------------

    def get_oldest_height(self) -> int:
        """Return the oldest height that can be read now."""
        oldest = history.compute_oldest_height(self.height, self.versions)
        kept = history.get_oldest_version(self._conn)
        return self.height if kept is None else min(self.height, max(oldest, kept))

    def get_version(self, height: int = 0) -> StateVersion:
        """Return the state at ``height`` (0: latest).

        Raises ``HeightUnavailable`` for a height outside the window.
        """
        if height == 0 or height == self.height:
            return self
        oldest = self.get_oldest_height()
        if not oldest <= height <= self.height:
            raise HeightUnavailable(
                f"state at height {height} is not kept; this node keeps heights "
                f"{oldest} to {self.height}",
                height=height,
                oldest=oldest,
                latest=self.height,
            )
        kept = history.get_version_roots(self._conn, height)
        if kept is None:  # a chain whose first block is above 1 skips heights
            raise HeightUnavailable(
                f"no state was committed at height {height}",
                height=height,
                oldest=oldest,
                latest=self.height,
            )
        app_hash, sizes, roots = kept
        if self.compute_app_hash(roots) != app_hash:
            raise StorageCorrupted("state version roots do not match its app hash", height=height)
        return PastState(self, height, app_hash, sizes, roots)

    # --- writes --------------------------------------------------------------

    def begin_block(self) -> BlockOverlay:
        """Return a fresh overlay for executing the next block."""
        return BlockOverlay(self)

    def commit(
        self, overlay: BlockOverlay, height: int, also: Sequence[CommitParticipant] | None = None
    ) -> None:
        """Persist the overlay, the commitment, its history and ``also``'s writes atomically.

        Each participant (a block store's staged block) writes last, inside the
        same transaction: if one raises, nothing of the block is kept.
        """
        app_hash = overlay.compute_app_hash()
        with self.db.transaction() as conn:
            self._write_history(conn, overlay, height)
            conn.executemany(
                "INSERT INTO kv (store, key, value, leaf, height) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (store, key) DO UPDATE SET value = excluded.value, "
                "height = excluded.height",
                [
                    (store, key, value, overlay.leaf_index[(store, key)], height)
                    for (store, key), value in overlay.writes.items()
                ],
            )
            conn.executemany(
                "INSERT OR REPLACE INTO nodes (store, level, idx, hash, height) "
                "VALUES (?, ?, ?, ?, ?)",
                [(s, lv, ix, h, height) for (s, lv, ix), h in overlay.nodes.items()],
            )
            meta = [(f"size/{s}", n.to_bytes(8, "big")) for s, n in overlay.sizes.items()]
            meta += [("height", height.to_bytes(8, "big")), ("app_hash", app_hash)]
            conn.executemany("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", meta)
            history.record_version(conn, height, app_hash, overlay.sizes, overlay.roots)
            history.prune_history(conn, history.compute_oldest_height(height, self.versions))
            for participant in also or ():
                participant.write_in(conn)
        self._nodes.update(overlay.nodes.items())
        leaf_index = overlay.leaf_index
        sizes = self.sizes
        self.keys.add_many(ck for ck in overlay.writes if leaf_index[ck] >= sizes[ck[0]])
        self._values.update((ck, (v or None, leaf_index[ck])) for ck, v in overlay.writes.items())
        self.sizes = dict(overlay.sizes)
        self.roots = dict(overlay.roots)
        self.height = height
        self.app_hash = app_hash

    def _write_history(self, conn: sqlite3.Connection, overlay: BlockOverlay, height: int) -> None:
        """Keep the rows the block overwrites: only keys and nodes that existed before it."""
        if self.app_hash and height > self.height:
            # A database from before versions were kept starts its window here.
            history.record_version(
                conn, self.height, self.app_hash, self.sizes, self.roots, replace=False
            )
        history.record_history(
            conn,
            height,
            [k for k, idx in overlay.leaf_index.items() if idx < self.sizes[k[0]]],
            [k for k in overlay.nodes if commitment.is_complete(k[1], k[2], self.sizes[k[0]])],
        )


def _app_leaf_hashes(roots: dict[str, bytes]) -> list[bytes]:
    return [compute_leaf_hash(compute_kv_leaf(s.encode(), roots[s])) for s in STORES]


class BlockOverlay:
    """Uncommitted writes of the block being executed, over committed state.

    Implements the core's ``KVView``. ``compute_app_hash`` assigns leaf positions
    to new keys in first-write order (deterministic: it follows transaction order)
    and re-hashes only what changed.
    """

    def __init__(self, base: StateStore) -> None:
        self.base = base
        self.writes: dict[tuple[str, bytes], bytes] = {}
        self.leaf_index: dict[tuple[str, bytes], int] = {}
        self.nodes: dict[tuple[str, int, int], bytes] = {}
        self.sizes = dict(base.sizes)
        self.roots = dict(base.roots)
        self.app_hash: bytes | None = None

    def get(self, store: str, key: bytes) -> bytes | None:
        """Return the newest value of ``key``."""
        v = self.writes.get((store, key))
        if v is None:
            return self.base.get(store, key)
        return v or None

    def set(self, store: str, key: bytes, value: bytes) -> None:
        """Write a non-empty value."""
        if not value:
            raise ValueError("stored values are never empty; use delete")
        self.writes[(store, key)] = value
        self.app_hash = None

    def delete(self, store: str, key: bytes) -> None:
        """Delete ``key``: its leaf stays, committing to the empty value."""
        self.writes[(store, key)] = _TOMBSTONE
        self.app_hash = None

    def compute_app_hash(self) -> bytes:
        """Return the app hash the state will have once this overlay is committed."""
        if self.app_hash is not None:
            return self.app_hash
        dirty: dict[str, dict[int, bytes]] = {}
        unknown: dict[str, list[bytes]] = {}
        for store, key in self.writes:
            if (store, key) not in self.leaf_index:
                unknown.setdefault(store, []).append(key)
        known = {
            (store, key): idx
            for store, keys in unknown.items()
            for key, idx in self.base.get_leaf_indexes(store, keys).items()
        }
        for (store, key), value in self.writes.items():
            idx = self.leaf_index.get((store, key))
            if idx is None:
                idx = known.get((store, key))
                if idx is None:
                    idx = self.sizes[store]
                    self.sizes[store] = idx + 1
                self.leaf_index[(store, key)] = idx
            dirty.setdefault(store, {})[idx] = compute_kv_leaf_hash(key, value)
        for store, leaves in dirty.items():
            size = self.sizes[store]

            def get_node(lv: int, ix: int, store: str = store) -> bytes:
                h = self.nodes.get((store, lv, ix))
                return h if h is not None else self.base.get_node(store, lv, ix)

            for (lv, ix), h in commitment.compute_updated_nodes(size, leaves, get_node).items():
                self.nodes[(store, lv, ix)] = h
            self.roots[store] = commitment.compute_root(size, get_node)
        self.app_hash = StateStore.compute_app_hash(self.roots)
        return self.app_hash
