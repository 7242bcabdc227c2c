"""The audit index in PostgreSQL: connect, create the tables, write runs of heights.

A run of heights is written in ONE transaction: its rows are deleted by height
first (re-indexing a height replaces it, never duplicates it), then copied in with
``COPY`` (one statement per table, whatever the row count), then the cursor is set.
A crash or a kill before the commit leaves the previous cursor and rows intact.
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


@contextmanager
def map_pg_errors(action: str) -> Iterator[None]:
    """Turn a driver error into ``IndexUnavailable`` (the DSN never goes into it)."""
    try:
        yield
    except psycopg.ProgrammingError as exc:
        # libpq's DSN parse errors quote the DSN's words, which may be a password's.
        if str(exc).startswith("invalid dsn") or str(exc).startswith("missing"):
            message = f"index {action} failed: the DSN does not parse (libpq key=value or URI)"
            raise IndexUnavailable(message, reason="invalid_dsn") from None
        raise _unavailable(action, exc) from exc
    except psycopg.Error as exc:
        raise _unavailable(action, exc) from exc


def _unavailable(action: str, exc: psycopg.Error) -> IndexUnavailable:
    reason = type(exc).__name__
    detail = str(exc).splitlines()[0] if str(exc) else reason
    return IndexUnavailable(f"index {action} failed: {detail[:200]}", reason=reason)


def connect(dsn: str) -> psycopg.Connection[Any]:
    """Open a connection to the index (``IndexUnavailable`` when it cannot)."""
    with map_pg_errors("connection"):
        return psycopg.connect(dsn, connect_timeout=CONNECT_TIMEOUT_S, autocommit=True)


class IndexStore:
    """The writer's side of the index; ``statements`` counts the SQL it sent."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self.statements = 0

    @classmethod
    def open(cls, dsn: str) -> IndexStore:
        """Connect to ``dsn`` and create the tables when missing."""
        store = cls(connect(dsn))
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
