"""The audit index in PostgreSQL: connect, create the tables, write runs of heights.

A run of heights is written in ONE transaction, right after the cursor: the cursor
row is locked and must be the height before the run (a second writer, or a run
over heights already held, is refused with ``IndexUnavailable`` reason
``cursor_moved``: re-index with ``rewind``), its rows are deleted by height (so a
run never duplicates one), copied in with ``COPY`` (one statement per table,
whatever the row count), then the cursor is set. A crash or a kill before the
commit leaves the previous cursor and rows intact.

Errors never carry libpq's text: its DSN parse errors quote the DSN (a password),
and its other messages name users, hosts and sockets. They name the failed action
and the driver's error class only. Every statement has a time limit
(``statement_timeout``, ``lock_timeout``): a locked table (``VACUUM FULL``, a
migration) gives ``index_unavailable``, not a request that hangs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, LiteralString

import psycopg
from psycopg import sql

from carchain.errors import IndexUnavailable
from carchain.index.rows import IndexRows, Row
from carchain.index.schema import COLUMNS, DDL, HEIGHT_TABLES, SCHEMA_VERSION

CONNECT_TIMEOUT_S = 5
READ_TIMEOUT_MS = 3_000  # a page query; a writer's COPY of a run gets WRITE_TIMEOUT_MS
WRITE_TIMEOUT_MS = 600_000
LOCK_TIMEOUT_MS = 2_000


@contextmanager
def map_pg_errors(action: str) -> Iterator[None]:
    """Turn a driver error into ``IndexUnavailable`` (the DSN never goes into it)."""
    try:
        yield
    except psycopg.Error as exc:
        raise IndexUnavailable(f"index {action} failed", reason=type(exc).__name__) from None


def connect(dsn: str, statement_timeout_ms: int = READ_TIMEOUT_MS) -> psycopg.Connection[Any]:
    """Open a connection to the index (``IndexUnavailable`` when it cannot), every
    statement limited to ``statement_timeout_ms`` and every lock wait to 2 s."""
    try:
        psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.Error:
        message = "index connection failed: the DSN does not parse (libpq key=value or URI)"
        raise IndexUnavailable(message, reason="invalid_dsn") from None
    options = f"-c statement_timeout={statement_timeout_ms} -c lock_timeout={LOCK_TIMEOUT_MS}"
    with map_pg_errors("connection"):
        return psycopg.connect(
            dsn, connect_timeout=CONNECT_TIMEOUT_S, autocommit=True, options=options
        )


class IndexStore:
    """The writer's side of the index; ``statements`` counts the SQL it sent."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self.statements = 0

    @classmethod
    def open(cls, dsn: str) -> IndexStore:
        """Connect to ``dsn`` and create the tables when missing."""
        store = cls(connect(dsn, WRITE_TIMEOUT_MS))
        store.create_schema()
        return store

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def _execute(self, query: sql.SQL | sql.Composed | LiteralString, params: Any = None) -> Any:
        self.statements += 1
        return self.conn.execute(query, params)

    def create_schema(self) -> None:
        """Create the tables and the cursor row when missing (idempotent)."""
        with map_pg_errors("schema setup"), self.conn.transaction():
            self._execute(DDL)
            self._execute(
                "INSERT INTO index_cursor VALUES (1, 0, %s) ON CONFLICT (id) DO NOTHING",
                (SCHEMA_VERSION,),
            )

    def get_cursor(self) -> int:
        """Return the last height whose rows are all in the index (0: none)."""
        with map_pg_errors("read"), self.conn.transaction():
            row = self._execute("SELECT height FROM index_cursor WHERE id = 1").fetchone()
        return 0 if row is None else int(row[0])

    def get_oem_next_seqs(self, oems: list[str]) -> dict[str, int]:
        """Return, per OEM, the first OEM-log seq the index does not hold."""
        query = """
            SELECT o, COALESCE((SELECT max(oem_seq) + 1 FROM access_log WHERE oem = o), 0)
            FROM unnest(%s::text[]) AS o
        """
        with map_pg_errors("read"), self.conn.transaction():
            rows = self._execute(query, (oems,)).fetchall()
        return {str(o): int(n) for o, n in rows}

    def write_run(self, first: int, last: int, rows: IndexRows) -> None:
        """Replace heights ``first..last`` with ``rows`` and move the cursor to ``last``,
        in one transaction."""
        with map_pg_errors("write"), self.conn.transaction():
            row = self._execute("SELECT height FROM index_cursor WHERE id = 1 FOR UPDATE")
            cursor = row.fetchone()
            if cursor is None or int(cursor[0]) != first - 1:
                raise IndexUnavailable(
                    "the index cursor is not the height before this run: another writer, "
                    "or heights already held (rewind to re-index them)",
                    reason="cursor_moved",
                )
            self._delete_from(first, last)
            for table, table_rows in rows.tables().items():
                if table_rows:
                    self._copy(table, table_rows)
            self._execute("UPDATE index_cursor SET height = %s WHERE id = 1", (last,))

    def rewind(self, height: int) -> None:
        """Drop every row above ``height`` and set the cursor there (re-index from it)."""
        with map_pg_errors("rewind"), self.conn.transaction():
            self._delete_from(height + 1, 2**63 - 1)
            self._execute(
                "UPDATE index_cursor SET height = LEAST(height, %s) WHERE id = 1", (height,)
            )

    def _delete_from(self, first: int, last: int) -> None:
        for table in HEIGHT_TABLES:
            query = sql.SQL("DELETE FROM {} WHERE height BETWEEN %s AND %s")
            self._execute(query.format(sql.Identifier(table)), (first, last))

    def _copy(self, table: str, rows: list[Row]) -> None:
        """Write ``rows`` with one ``COPY ... FROM STDIN``."""
        self.statements += 1
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, COLUMNS[table]))
        )
        with self.conn.cursor() as cur, cur.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
