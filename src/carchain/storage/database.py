"""The SQLite database file a node keeps its state and blocks in."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from carchain.storage.checkpoint import DEFAULT_CHECKPOINT_COMMITS, Checkpointer
from carchain.storage.ports import WriteTransaction

DEFAULT_PAGE_SIZE = 4096
WAL_SIZE_LIMIT = 64 * 1024 * 1024

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS kv (
    store TEXT NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL, leaf INTEGER NOT NULL,
    height INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (store, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS nodes (
    store TEXT NOT NULL, level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,
    height INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (store, level, idx)
) WITHOUT ROWID;
-- Past state versions (storage/history.py). ``kv.height`` and ``nodes.height`` are
-- the heights that wrote the current rows; a history row tagged ``height`` is what
-- block ``height`` overwrote, and ``written`` the height that had written that.
-- Keyed by height first: a block appends its rows, pruning deletes from the front.
CREATE TABLE IF NOT EXISTS kv_history (
    height INTEGER NOT NULL, store TEXT NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL,
    written INTEGER NOT NULL,
    PRIMARY KEY (height, store, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS node_history (
    height INTEGER NOT NULL, store TEXT NOT NULL, level INTEGER NOT NULL, idx INTEGER NOT NULL,
    hash BLOB NOT NULL, written INTEGER NOT NULL,
    PRIMARY KEY (height, store, level, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS state_versions (
    height INTEGER PRIMARY KEY, app_hash BLOB NOT NULL, roots BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS blocks (
    height INTEGER PRIMARY KEY, hash BLOB NOT NULL, header BLOB NOT NULL,
    txs BLOB NOT NULL, results BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS txindex (
    hash BLOB PRIMARY KEY, height INTEGER NOT NULL, position INTEGER NOT NULL
) WITHOUT ROWID;
"""


class Database:
    """One SQLite file in WAL mode with full synchronous commits.

    A commit is durable once ``transaction()`` returns: state, commitment nodes,
    their history and the block go in together or not at all, so a kill -9 at any moment leaves
    the last committed block intact and nothing half-applied.

    The WAL is copied into the database file by a ``Checkpointer`` on its own thread
    every ``checkpoint_commits`` commits, not by SQLite inside the commit that
    crosses its page threshold (``storage/checkpoint.py``); ``checkpoint_commits=0``
    keeps SQLite's automatic checkpoints (the behaviour before, for comparisons).
    """

    def __init__(
        self,
        path: Path | str,
        checkpoint_commits: int = DEFAULT_CHECKPOINT_COMMITS,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> None:
        self.path = str(path)
        self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        # Only a new file takes it (SQLite ignores it once the file has pages).
        self.conn.execute(f"PRAGMA page_size={int(page_size)}")
        wal = self.conn.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute("PRAGMA cache_size=-65536")
        self.checkpointer: Checkpointer | None = None
        if wal and checkpoint_commits:
            self.conn.execute("PRAGMA wal_autocheckpoint=0")
            # A WAL that grew past this (a big block) shrinks back at its next reset.
            self.conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
            self.checkpointer = Checkpointer(self.path, checkpoint_commits)
        self.conn.executescript(SCHEMA)
        self._add_write_heights()

    def _add_write_heights(self) -> None:
        # Databases from before state versions lack the write heights; 0 is
        # right for them: their window starts at their latest height.
        for table in ("kv", "nodes"):
            columns = {row[1] for row in self.conn.execute(f"PRAGMA table_info({table})")}
            if "height" not in columns:
                self.conn.execute(
                    f"ALTER TABLE {table} ADD COLUMN height INTEGER NOT NULL DEFAULT 0"
                )

    def transaction(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """Run the block inside one atomic, durable write transaction."""
        return self._commit()

    @contextmanager
    def _commit(self) -> Iterator[sqlite3.Connection]:
        with run_transaction(self.conn) as conn:
            yield conn
        if self.checkpointer is not None:
            self.checkpointer.note_commit()

    def get_meta(self, name: str) -> bytes | None:
        """Return a metadata value or ``None``."""
        row = self.conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else bytes(row[0])

    def close(self) -> None:
        """Stop the checkpoints and close the connection (SQLite then folds the WAL in)."""
        if self.checkpointer is not None:
            self.checkpointer.close()
        self.conn.close()


class SharedConnection:
    """A durable SQLite connection (WAL, ``synchronous=FULL``) shared between threads:
    one lock serialises its use; ``_tx`` runs a write transaction under it."""

    def __init__(self, path: Path, schema: str) -> None:
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA busy_timeout=10000")
        self._conn.executescript(schema)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock, run_transaction(self._conn) as conn:
            yield conn


@contextmanager
def run_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Run the block inside one atomic write transaction on ``conn`` (rolled back on error)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def write_tx_index(txn: WriteTransaction, height: int, tx_hashes: Sequence[bytes]) -> None:
    """Record where each transaction of the block at ``height`` stands (first copy wins)."""
    txn.executemany(
        "INSERT OR IGNORE INTO txindex (hash, height, position) VALUES (?, ?, ?)",
        [(th, height, i) for i, th in enumerate(tx_hashes)],
    )


def find_tx_location(conn: sqlite3.Connection, tx_hash: bytes) -> tuple[int, int] | None:
    """Return ``(height, position)`` of a committed transaction, or ``None``."""
    row = conn.execute("SELECT height, position FROM txindex WHERE hash = ?", (tx_hash,)).fetchone()
    return None if row is None else (int(row[0]), int(row[1]))
