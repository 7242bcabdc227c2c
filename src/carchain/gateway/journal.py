"""The gateway's durable journal: accepted batches and the anchors that cover them.

SQLite in WAL mode with ``synchronous=FULL``: a batch is acknowledged only
after its row is committed (and its ciphertext fsynced before that), so no
acknowledged batch is lost in a crash. An anchor row and the assignment of its
batches are written in one transaction before the anchor transaction is sent,
so after a restart the same batches go out under the same anchor sequence
number, which the chain accepts once.

Several gateway instances of one OEM on one host may share the journal (WAL works
across processes of one machine; each write is a ``BEGIN IMMEDIATE`` transaction
and waits up to ``busy_timeout`` for another's). Each ingests; only the holder of
the anchoring lease (``lease``) writes anchors, and every anchor write names the
lease ``Fence`` it was made under and is refused (``LeaseLost``) in its own
transaction if that fence no longer holds the lease. Each anchor row records the
lease epoch that built or last re-signed it (``epoch``; 0 without a lease).

The database holds metadata (which vehicle uploaded when): it is created 0600
in a 0700 folder before SQLite opens it, and SQLite gives its ``-wal`` and
``-shm`` files the database's mode.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import msgspec

from carchain.core.anchors import SubmitAnchor
from carchain.errors import LeaseLost
from carchain.gateway.lease import (
    LEASE_SCHEMA,
    Fence,
    LeaseState,
    acquire_lease,
    check_fence,
    get_lease_optional,
    give_up_lease,
    now_ms,
    renew_lease,
)
from carchain.storage.blobstore import FILE_MODE, make_private_dir
from carchain.storage.database import SharedConnection

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    received INTEGER PRIMARY KEY,
    header_hash BLOB NOT NULL UNIQUE,
    vehicle_id TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    start_ms INTEGER NOT NULL,
    end_ms INTEGER NOT NULL,
    record_count INTEGER NOT NULL,
    ciphertext_size INTEGER NOT NULL,
    header BLOB NOT NULL,
    anchor_seq INTEGER,
    anchor_index INTEGER,
    UNIQUE (vehicle_id, epoch, seq)
);
CREATE INDEX IF NOT EXISTS batches_by_vehicle ON batches (vehicle_id, start_ms);
CREATE INDEX IF NOT EXISTS batches_unanchored ON batches (received) WHERE anchor_seq IS NULL;
CREATE INDEX IF NOT EXISTS batches_by_anchor ON batches (anchor_seq) WHERE anchor_seq IS NOT NULL;
CREATE TABLE IF NOT EXISTS shredded_windows (
    vehicle_id TEXT NOT NULL,
    category TEXT NOT NULL,
    first_ms INTEGER NOT NULL,
    last_ms INTEGER NOT NULL,
    PRIMARY KEY (vehicle_id, category, first_ms, last_ms)
);
CREATE TABLE IF NOT EXISTS anchors (
    seq INTEGER PRIMARY KEY,
    root BLOB NOT NULL,
    batch_count INTEGER NOT NULL,
    record_count INTEGER NOT NULL,
    start_ms INTEGER NOT NULL,
    end_ms INTEGER NOT NULL,
    manifest_hash BLOB NOT NULL,
    tx BLOB NOT NULL,
    tx_hash BLOB NOT NULL,
    height INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""
# What ``status`` reports, kept in the transactions that change it (``counters``): a
# count over the tables would read every row of a journal that grows by millions a day.
_COUNTED = ("batches", "anchored", "anchors")
_RECOUNT = {
    "batches": "SELECT COUNT(*) FROM batches",
    "anchored": "SELECT COUNT(*) FROM batches b JOIN anchors a ON b.anchor_seq = a.seq "
    "WHERE a.height > 0",
    "anchors": "SELECT COUNT(*) FROM anchors WHERE height > 0",
}


class NewBatch(msgspec.Struct, frozen=True):
    """A batch to record: the columns ``add_batches`` writes, in their order."""

    header_hash: bytes
    vehicle_id: str
    epoch: int
    seq: int
    start_ms: int
    end_ms: int
    record_count: int
    ciphertext_size: int
    header: bytes


@dataclass(frozen=True, slots=True)
class BatchRow:
    """An accepted batch as the journal holds it."""

    received: int
    header_hash: bytes
    vehicle_id: str
    epoch: int
    seq: int
    start_ms: int
    end_ms: int
    record_count: int
    ciphertext_size: int
    header: bytes
    anchor_seq: int | None
    anchor_index: int | None


@dataclass(frozen=True, slots=True)
class AnchorRow:
    """An anchor the gateway built: its ``anchor.submit`` body (re-signed as it is after a
    lost nonce) and the transaction; ``height`` is 0 until it is committed on chain."""

    body: SubmitAnchor
    tx: bytes
    tx_hash: bytes
    height: int


_BATCH_COLUMNS = (
    "received, header_hash, vehicle_id, epoch, seq, start_ms, end_ms, record_count, "
    "ciphertext_size, header, anchor_seq, anchor_index"
)
# The anchors table holds the body's fields as columns, in the body's order, then the rest.
_BODY_FIELDS = len(SubmitAnchor.__struct_fields__)
_ANCHOR_COLUMNS = ", ".join((*SubmitAnchor.__struct_fields__, "tx", "tx_hash", "height"))

_MARKS = ", ".join("?" for _ in _ANCHOR_COLUMNS.split(","))


def _batch(row: tuple[object, ...]) -> BatchRow:
    return BatchRow(*row)  # type: ignore[arg-type]


def _anchor(row: tuple[object, ...]) -> AnchorRow:
    body = SubmitAnchor(*row[:_BODY_FIELDS])  # type: ignore[arg-type]
    return AnchorRow(body, *row[_BODY_FIELDS:])  # type: ignore[arg-type]


def _insert_anchor(
    conn: sqlite3.Connection, anchor: AnchorRow, header_hashes: Sequence[bytes]
) -> int:
    """Record ``anchor`` and assign to it the batches among ``header_hashes`` (leaf order)
    that no anchor covers yet; return how many it assigned."""
    conn.execute(
        f"INSERT INTO anchors ({_ANCHOR_COLUMNS}) VALUES ({_MARKS})",
        (*msgspec.structs.astuple(anchor.body), anchor.tx, anchor.tx_hash, anchor.height),
    )
    before = conn.total_changes
    conn.executemany(
        "UPDATE batches SET anchor_seq = ?, anchor_index = ? "
        "WHERE header_hash = ? AND anchor_seq IS NULL",
        [(anchor.body.seq, i, h) for i, h in enumerate(header_hashes)],
    )
    assigned = conn.total_changes - before
    if anchor.height > 0:  # an anchor adopted from the chain: committed already
        _count_confirmed(conn, anchor.body.seq)
    return assigned


def _set_epoch(conn: sqlite3.Connection, seq: int, fence: Fence | None) -> None:
    """Record on anchor ``seq`` the lease epoch it is written under (none: left as is)."""
    if fence is not None:
        conn.execute("UPDATE anchors SET epoch = ? WHERE seq = ?", (fence.epoch, seq))


def _add_to_counters(conn: sqlite3.Connection, **deltas: int) -> None:
    conn.executemany(
        "UPDATE counters SET value = value + ? WHERE name = ?",
        [(d, name) for name, d in deltas.items() if d],
    )


def _count_confirmed(conn: sqlite3.Connection, seq: int) -> None:
    """Count anchor ``seq``, just seen committed, and the batches it covers."""
    covered = conn.execute("SELECT COUNT(*) FROM batches WHERE anchor_seq = ?", (seq,)).fetchone()
    _add_to_counters(conn, anchors=1, anchored=int(covered[0]))


def _is_shredded_in(
    conn: sqlite3.Connection, vehicle_id: str, categories: Sequence[str], start_ms: int,
    end_ms: int,
) -> bool:  # fmt: skip
    """Return whether an erased window of the vehicle covers a category and a time."""
    marks = ", ".join("?" for _ in categories)
    row = conn.execute(
        "SELECT 1 FROM shredded_windows WHERE vehicle_id = ? "
        f"AND category IN ({marks}) AND first_ms <= ? AND last_ms >= ? LIMIT 1",
        (vehicle_id, *categories, end_ms, start_ms),
    ).fetchone()
    return row is not None


def _create_private_file(path: Path) -> None:
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if p.exists():
            os.chmod(p, FILE_MODE)


class Journal(SharedConnection):
    """The gateway's SQLite journal; safe to share between threads."""

    def __init__(self, path: Path) -> None:
        make_private_dir(path.parent)
        _create_private_file(path)
        super().__init__(path, _SCHEMA + LEASE_SCHEMA)
        self._add_anchor_epochs()
        self._init_counters()

    def _add_anchor_epochs(self) -> None:
        """Give a journal of an older version the anchors' ``epoch`` column (0: built
        without a lease)."""
        with self._tx() as conn:
            columns = {row[1] for row in conn.execute("PRAGMA table_info(anchors)")}
            if "epoch" not in columns:
                conn.execute("ALTER TABLE anchors ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0")

    def _init_counters(self) -> None:
        """Write the counters once, from the tables (a journal of an older version has
        none): from then on every change updates them in its own transaction."""
        with self._tx() as conn:
            known = {r[0] for r in conn.execute("SELECT name FROM counters")}
            for name in _COUNTED:
                if name not in known:
                    value = conn.execute(_RECOUNT[name]).fetchone()[0]
                    conn.execute("INSERT INTO counters VALUES (?, ?)", (name, int(value)))

    def _get_counter(self, name: str) -> int:
        with self._lock:
            row = self._conn.execute("SELECT value FROM counters WHERE name = ?", (name,))
            return int(row.fetchone()[0])

    # --- batches -------------------------------------------------------------------

    def has_batch(self, vehicle_id: str, epoch: int, seq: int) -> bool:
        """Return whether a batch with this identity was accepted."""
        with self._lock:
            row = self._conn.execute(
                "SELECT 1 FROM batches WHERE vehicle_id = ? AND epoch = ? AND seq = ?",
                (vehicle_id, epoch, seq),
            ).fetchone()
        return row is not None

    def add_batch(
        self,
        header_hash: bytes,
        vehicle_id: str,
        epoch: int,
        seq: int,
        start_ms: int,
        end_ms: int,
        record_count: int,
        ciphertext_size: int,
        header: bytes,
    ) -> int:
        """Record an accepted batch durably; return its receipt number.

        Raises ``sqlite3.IntegrityError`` if the batch identity is already there.
        """
        row = NewBatch(
            header_hash, vehicle_id, epoch, seq, start_ms, end_ms, record_count,
            ciphertext_size, header,
        )  # fmt: skip
        return self.add_batches([row])[0]

    def add_batches(self, rows: Sequence[NewBatch]) -> list[int]:
        """Record accepted batches durably in one transaction (one commit, one WAL sync);
        return their receipt numbers in order. Raises ``sqlite3.IntegrityError`` (and
        records none) if any batch identity is already there."""
        return [n for n in self.add_unerased_batches(rows, [[] for _ in rows]) if n is not None]

    def add_unerased_batches(
        self, rows: Sequence[NewBatch], categories: Sequence[Sequence[str]]
    ) -> list[int | None]:
        """Record the batches as ``add_batches`` does, except those that fall in an
        erased window of one of their ``categories`` (``None`` in their place): the
        check is made in the same transaction as the insert, so a window recorded by
        another process (``add_shredded_window``) either precedes it and refuses the
        batch, or follows it and its scan finds the batch."""
        received: list[int | None] = []
        with self._tx() as conn:
            for row, cats in zip(rows, categories, strict=True):
                if cats and _is_shredded_in(conn, row.vehicle_id, cats, row.start_ms, row.end_ms):
                    received.append(None)
                    continue
                cur = conn.execute(
                    "INSERT INTO batches (header_hash, vehicle_id, epoch, seq, start_ms, "
                    "end_ms, record_count, ciphertext_size, header) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    msgspec.structs.astuple(row),
                )
                received.append(int(cur.lastrowid or 0))
            _add_to_counters(conn, batches=sum(n is not None for n in received))
        return received

    def get_batch_optional(self, header_hash: bytes) -> BatchRow | None:
        """Return an accepted batch by its header hash, or ``None``."""
        with self._lock:
            row = self._conn.execute(
                f"SELECT {_BATCH_COLUMNS} FROM batches WHERE header_hash = ?", (header_hash,)
            ).fetchone()
        return None if row is None else _batch(row)

    def get_unanchored(self, limit: int) -> list[BatchRow]:
        """Return up to ``limit`` accepted batches no anchor covers yet, oldest first."""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_BATCH_COLUMNS} FROM batches WHERE anchor_seq IS NULL "
                "ORDER BY received LIMIT ?",
                (limit,),
            ).fetchall()
        return [_batch(r) for r in rows]

    def find_batches(
        self, vehicle_id: str, start_ms: int, end_ms: int, limit: int
    ) -> list[BatchRow]:
        """Return a vehicle's batches that overlap ``[start_ms, end_ms]``, by start time."""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_BATCH_COLUMNS} FROM batches WHERE vehicle_id = ? "
                "AND start_ms <= ? AND end_ms >= ? ORDER BY start_ms, seq LIMIT ?",
                (vehicle_id, end_ms, start_ms, limit),
            ).fetchall()
        return [_batch(r) for r in rows]

    # --- erased keys ---------------------------------------------------------------

    def add_shredded_window(
        self, vehicle_id: str, categories: Sequence[str], first_ms: int, last_ms: int
    ) -> None:
        """Record that the vehicle's keys of ``categories`` for the (inclusive) time window
        ``first_ms`` to ``last_ms`` are erased (once; idempotent)."""
        with self._tx() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO shredded_windows VALUES (?, ?, ?, ?)",
                [(vehicle_id, c, first_ms, last_ms) for c in categories],
            )

    def is_shredded(
        self, vehicle_id: str, categories: Sequence[str], start_ms: int, end_ms: int
    ) -> bool:
        """Return whether the key of any of ``categories`` of the vehicle at any time of
        ``[start_ms, end_ms]`` was erased."""
        with self._lock:
            return _is_shredded_in(self._conn, vehicle_id, categories, start_ms, end_ms)

    def count_batches(self) -> tuple[int, int]:
        """Return ``(accepted, anchored on chain)`` batch counts (kept, not counted)."""
        return self._get_counter("batches"), self._get_counter("anchored")

    # --- anchors ---------------------------------------------------------------------

    def add_anchor(
        self, anchor: AnchorRow, header_hashes: list[bytes], fence: Fence | None = None
    ) -> None:
        """Record a built anchor and assign its batches to it, atomically: refused
        (``LeaseLost``, nothing written) unless ``fence`` still holds the lease, or if
        any of the batches is no longer unanchored (another anchorer took it)."""
        with self._tx() as conn:
            self._check_fence(conn, fence)
            assigned = _insert_anchor(conn, anchor, header_hashes)
            if assigned != len(header_hashes):
                raise LeaseLost("another anchor covers some of these batches already")
            _set_epoch(conn, anchor.body.seq, fence)

    def replace_anchor_tx(
        self, seq: int, tx: bytes, tx_hash: bytes, fence: Fence | None = None
    ) -> None:
        """Swap the transaction of an unconfirmed anchor (same body, fresh nonce)."""
        with self._tx() as conn:
            self._check_fence(conn, fence)
            conn.execute(
                "UPDATE anchors SET tx = ?, tx_hash = ? WHERE seq = ? AND height = 0",
                (tx, tx_hash, seq),
            )
            _set_epoch(conn, seq, fence)

    def release_anchor(
        self,
        seq: int,
        adopted: AnchorRow | None = None,
        header_hashes: tuple[bytes, ...] = (),
        fence: Fence | None = None,
    ) -> None:
        """Drop unconfirmed anchor ``seq`` and return its batches to unanchored, atomically.

        With ``adopted`` (the committed anchor the chain holds at ``seq``), record it in
        the same transaction and assign to it the batches among ``header_hashes`` (its
        manifest, in leaf order) that no anchor covers: they are on chain already.
        """
        with self._tx() as conn:
            self._check_fence(conn, fence)
            dropped = conn.execute("DELETE FROM anchors WHERE seq = ? AND height = 0", (seq,))
            if dropped.rowcount:  # a committed anchor keeps its batches
                conn.execute(
                    "UPDATE batches SET anchor_seq = NULL, anchor_index = NULL "
                    "WHERE anchor_seq = ?",
                    (seq,),
                )
            if adopted is not None:
                _insert_anchor(conn, adopted, header_hashes)
                _set_epoch(conn, seq, fence)

    def confirm_anchor(self, seq: int, height: int, fence: Fence | None = None) -> None:
        """Mark an anchor as committed on chain at ``height`` (a height, at least 1)."""
        if height < 1:
            raise ValueError("an anchor is committed at a height of at least 1")
        with self._tx() as conn:
            self._check_fence(conn, fence)
            row = conn.execute("SELECT height FROM anchors WHERE seq = ?", (seq,)).fetchone()
            conn.execute("UPDATE anchors SET height = ? WHERE seq = ?", (height, seq))
            if row is not None and row[0] == 0 and height > 0:
                _count_confirmed(conn, seq)

    def get_anchor_epoch(self, seq: int) -> int | None:
        """Return the lease epoch anchor ``seq`` was built or last re-signed under (0:
        without a lease), or ``None`` if there is no such anchor."""
        with self._lock:
            row = self._conn.execute("SELECT epoch FROM anchors WHERE seq = ?", (seq,)).fetchone()
        return None if row is None else int(row[0])

    # --- the anchoring lease ---------------------------------------------------------

    @staticmethod
    def _check_fence(conn: sqlite3.Connection, fence: Fence | None) -> None:
        if fence is not None:
            check_fence(conn, fence, now_ms())

    def validate_fence(self, fence: Fence | None) -> None:
        """Raise ``LeaseLost`` unless ``fence`` (if any) holds the lease right now."""
        with self._lock:
            self._check_fence(self._conn, fence)

    def acquire_lease(self, holder: str, at_ms: int, ttl_ms: int) -> Fence | None:
        """Take the anchoring lease if nobody holds it (``lease.acquire_lease``)."""
        with self._tx() as conn:
            return acquire_lease(conn, holder, at_ms, ttl_ms)

    def renew_lease(self, fence: Fence, at_ms: int, ttl_ms: int) -> bool:
        """Renew the anchoring lease ``fence`` holds (``lease.renew_lease``)."""
        with self._tx() as conn:
            return renew_lease(conn, fence, at_ms, ttl_ms)

    def give_up_lease(self, fence: Fence) -> None:
        """Expire the lease now if ``fence`` holds it (``lease.give_up_lease``)."""
        with self._tx() as conn:
            give_up_lease(conn, fence)

    def get_lease_optional(self) -> LeaseState | None:
        """Return the anchoring lease row, or ``None`` if nobody ever took it."""
        with self._lock:
            return get_lease_optional(self._conn)

    def get_anchor_optional(self, seq: int) -> AnchorRow | None:
        """Return an anchor by sequence number, or ``None``."""
        with self._lock:
            row = self._conn.execute(
                f"SELECT {_ANCHOR_COLUMNS} FROM anchors WHERE seq = ?", (seq,)
            ).fetchone()
        return None if row is None else _anchor(row)

    def get_unconfirmed_anchor_optional(self) -> AnchorRow | None:
        """Return the oldest anchor not yet seen committed, if any."""
        with self._lock:
            row = self._conn.execute(
                f"SELECT {_ANCHOR_COLUMNS} FROM anchors WHERE height = 0 ORDER BY seq LIMIT 1"
            ).fetchone()
        return None if row is None else _anchor(row)

    def get_last_anchor_seq(self) -> int:
        """Return the highest anchor sequence number built (0 if none)."""
        with self._lock:
            row = self._conn.execute("SELECT MAX(seq) FROM anchors").fetchone()
        return int(row[0] or 0)

    def count_anchors(self) -> int:
        """Return how many anchors are committed on chain (kept, not counted)."""
        return self._get_counter("anchors")

    def recount(self) -> dict[str, tuple[int, int]]:
        """Return each counter's kept value beside a count over the tables (a check
        for operators and tests: the two are equal unless the journal was edited)."""
        with self._lock:
            kept = dict(self._conn.execute("SELECT name, value FROM counters").fetchall())
            return {
                name: (int(kept[name]), int(self._conn.execute(q).fetchone()[0]))
                for name, q in _RECOUNT.items()
            }
