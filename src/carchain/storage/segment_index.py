"""The index of a segment blob store: content hash to (segment, offset, length), in SQLite.

``segments`` records each segment's committed size (its indexed end: bytes past it
are a crashed write), the bytes of it that deletions freed (``dead``) and whether
compaction retired it (its file is removed next). ``shredding`` holds deletions
whose bytes may not be zeroed yet: a crash between the two steps of a delete is
finished on the next open.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from carchain.storage.blobstore import FILE_MODE
from carchain.storage.database import SharedConnection
from carchain.storage.segment_files import Location

_SCHEMA = """
CREATE TABLE IF NOT EXISTS blobs (
    digest BLOB PRIMARY KEY,
    segment INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    length INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS blobs_by_segment ON blobs (segment);
CREATE TABLE IF NOT EXISTS segments (
    id INTEGER PRIMARY KEY,
    size INTEGER NOT NULL,
    dead INTEGER NOT NULL DEFAULT 0,
    retired INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS shredding (
    segment INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    length INTEGER NOT NULL,
    PRIMARY KEY (segment, offset)
) WITHOUT ROWID;
"""

Placement = tuple[bytes, Location]


@dataclass(frozen=True, slots=True)
class SegmentRow:
    """One segment as the index holds it."""

    id: int
    size: int
    dead: int
    retired: bool

    def compute_dead_fraction(self) -> float:
        """Return the share of the segment's bytes that deletions freed."""
        return self.dead / self.size if self.size else 0.0


class SegmentIndex(SharedConnection):
    """The SQLite index (WAL, ``synchronous=FULL``: a commit is durable on return)."""

    def __init__(self, path: Path) -> None:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))
        super().__init__(path, _SCHEMA)

    def find(self, digest: bytes) -> Location | None:
        """Return where the blob ``digest`` is, or ``None``."""
        with self._lock:
            row = self._conn.execute(
                "SELECT segment, offset, length FROM blobs WHERE digest = ?", (digest,)
            ).fetchone()
        return None if row is None else Location(*row)

    def find_present(self, digests: Iterable[bytes]) -> set[bytes]:
        """Return those of ``digests`` that are indexed."""
        with self._lock:
            return {
                d
                for d in digests
                if self._conn.execute("SELECT 1 FROM blobs WHERE digest = ?", (d,)).fetchone()
            }

    def get_segments(self) -> list[SegmentRow]:
        """Return every segment, oldest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, size, dead, retired FROM segments ORDER BY id"
            ).fetchall()
        return [SegmentRow(i, s, d, bool(r)) for i, s, d, r in rows]

    def get_live(self, segment: int) -> list[Placement]:
        """Return the blobs stored in ``segment``, in file order."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT digest, offset, length FROM blobs WHERE segment = ? ORDER BY offset",
                (segment,),
            ).fetchall()
        return [(d, Location(segment, o, n)) for d, o, n in rows]

    def get_digests_after(self, after: bytes, limit: int) -> list[bytes]:
        """Return up to ``limit`` addresses greater than ``after``, in order."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT digest FROM blobs WHERE digest > ? ORDER BY digest LIMIT ?",
                (after, limit),
            ).fetchall()
        return [d for (d,) in rows]

    def commit_placements(self, placements: Sequence[Placement], sizes: dict[int, int]) -> None:
        """Index (or re-index) ``placements`` and set the segments' sizes, atomically."""
        with self._tx() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO blobs (digest, segment, offset, length) "
                "VALUES (?, ?, ?, ?)",
                [(d, loc.segment, loc.offset, loc.length) for d, loc in placements],
            )
            conn.executemany(
                "INSERT INTO segments (id, size) VALUES (?, ?) "
                "ON CONFLICT (id) DO UPDATE SET size = excluded.size",
                sizes.items(),
            )

    def commit_moves(
        self, placements: Sequence[Placement], sizes: dict[int, int], retired: int
    ) -> None:
        """Point ``placements`` at their copies and retire segment ``retired``, atomically."""
        with self._tx() as conn:
            conn.executemany(
                "UPDATE blobs SET segment = ?, offset = ?, length = ? WHERE digest = ?",
                [(loc.segment, loc.offset, loc.length, d) for d, loc in placements],
            )
            conn.executemany(
                "INSERT INTO segments (id, size) VALUES (?, ?) "
                "ON CONFLICT (id) DO UPDATE SET size = excluded.size",
                sizes.items(),
            )
            conn.execute("UPDATE segments SET retired = 1 WHERE id = ?", (retired,))

    def begin_shred(self, digest: bytes) -> Location | None:
        """Unindex ``digest`` and record its bytes as to be zeroed; return where they are."""
        with self._tx() as conn:
            row = conn.execute(
                "SELECT segment, offset, length FROM blobs WHERE digest = ?", (digest,)
            ).fetchone()
            if row is None:
                return None
            conn.execute("DELETE FROM blobs WHERE digest = ?", (digest,))
            conn.execute("INSERT OR REPLACE INTO shredding VALUES (?, ?, ?)", row)
            conn.execute("UPDATE segments SET dead = dead + ? WHERE id = ?", (row[2], row[0]))
        return Location(*row)

    def get_shredding(self) -> list[Location]:
        """Return the deletions whose zeroing may not have finished."""
        with self._lock:
            rows = self._conn.execute("SELECT segment, offset, length FROM shredding").fetchall()
        return [Location(*row) for row in rows]

    def finish_shred(self, location: Location) -> None:
        """Record that ``location``'s bytes are zeroed on disk."""
        with self._tx() as conn:
            conn.execute(
                "DELETE FROM shredding WHERE segment = ? AND offset = ?",
                (location.segment, location.offset),
            )

    def drop_segment(self, segment: int) -> None:
        """Forget a segment whose file is removed."""
        with self._tx() as conn:
            conn.execute("DELETE FROM segments WHERE id = ?", (segment,))
            conn.execute("DELETE FROM shredding WHERE segment = ?", (segment,))
