"""The SQLite database file a node keeps its state and blocks in."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS kv (
    store TEXT NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL, leaf INTEGER NOT NULL,
    PRIMARY KEY (store, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS nodes (
    store TEXT NOT NULL, level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,
    PRIMARY KEY (store, level, idx)
) WITHOUT ROWID;
-- Past state versions (storage/history.py): the value or node hash a row had
-- before block ``height`` overwrote it, and each height's store sizes and roots.
CREATE TABLE IF NOT EXISTS kv_history (
    store TEXT NOT NULL, key BLOB NOT NULL, height INTEGER NOT NULL, value BLOB NOT NULL,
    PRIMARY KEY (store, key, height)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kv_history_by_height ON kv_history (height);
CREATE TABLE IF NOT EXISTS node_history (
    store TEXT NOT NULL, level INTEGER NOT NULL, idx INTEGER NOT NULL, height INTEGER NOT NULL,
    hash BLOB NOT NULL,
    PRIMARY KEY (store, level, idx, height)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS node_history_by_height ON node_history (height);
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
    """

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute("PRAGMA cache_size=-65536")
        self.conn.executescript(SCHEMA)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run the block inside one atomic, durable write transaction."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def get_meta(self, name: str) -> bytes | None:
        """Return a metadata value or ``None``."""
        row = self.conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else bytes(row[0])

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()
