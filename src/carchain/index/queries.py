"""Audit queries on the index: access-log pages and event listings, newest first.

The answers are NOT proven: the index is a copy the member runs for queries state
cannot answer fast (every request of one actor, every event of a type). Each entry
names its position, so a reader fetches the proven value from the node
(``GET /vehicles/{id}/access-log?before=<seq + 1>&limit=1``, ``GET /events``).
"""

from __future__ import annotations

import threading
from typing import Any

import psycopg

from carchain.core.access_log import MAX_PAGE
from carchain.errors import ApiError, IndexUnavailable
from carchain.index.store import connect, map_pg_errors

_ACCESS_COLUMNS = (
    "vehicle_id, seq, oem, oem_seq, kind, height, time_ms, actor, actor_member, ref, "
    "categories, detail"
)
_VEHICLE_LOG = ("vehicle_id", "seq")  # (owner column, seq column): constants, never input
_OEM_LOG = ("oem", "oem_seq")
LOCK_WAIT_S = 5.0  # a reader waits this long for the connection, then answers 503 busy
_EVENT_COLUMNS = "height, tx_index, event_index, tx_hash, time_ms, type, vehicle_id, attributes"


def _access_entry(row: tuple[Any, ...]) -> dict[str, Any]:
    vehicle, seq, oem, oem_seq, kind, height, time_ms, actor, member, ref, cats, detail = row
    event = {
        "seq": seq, "kind": kind, "height": height, "time_ms": time_ms, "vehicle_id": vehicle,
        "actor": bytes(actor).hex(), "actor_member": member, "ref": ref,
        "categories": list(cats), "detail": detail,
    }  # fmt: skip
    return {"seq": seq, "oem": oem, "oem_seq": oem_seq, "event": event}


def _event_doc(row: tuple[Any, ...]) -> dict[str, Any]:
    height, tx_index, event_index, tx_hash, time_ms, type_, _vehicle, attributes = row
    return {
        "id": f"{height}:{tx_index}:{event_index}", "height": height, "tx_index": tx_index,
        "event_index": event_index, "tx_hash": bytes(tx_hash).hex(), "time_ms": time_ms,
        "type": type_, "attributes": attributes,
    }  # fmt: skip


def validate_limit(limit: int) -> None:
    """Raise ``ApiError`` for a page size outside 1..100."""
    if not 0 < limit <= MAX_PAGE:
        raise ApiError(f"limit must be 1..{MAX_PAGE}")


class AuditIndex:
    """The API's reader of the index: one connection, reopened after a failure."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._conn: psycopg.Connection[Any] | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the connection (if open)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _fetch(self, query: str, params: tuple[Any, ...]) -> tuple[int, list[tuple[Any, ...]]]:
        """Return the indexed height and the query's rows, read in one snapshot."""
        if any(isinstance(p, str) and "\x00" in p for p in params):
            # PostgreSQL text holds no NUL; no id on chain has one either.
            raise ApiError("parameters must not contain NUL characters")
        if not self._lock.acquire(timeout=LOCK_WAIT_S):
            raise IndexUnavailable("the audit index is busy", reason="busy")
        try:
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = connect(self._dsn)
                conn = self._conn
                with map_pg_errors("read"), conn.transaction():
                    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    cur = conn.execute("SELECT height FROM index_cursor WHERE id = 1").fetchone()
                    rows = conn.execute(query, params).fetchall()
            except IndexUnavailable:
                if self._conn is not None:
                    self._conn.close()
                self._conn = None
                raise
        finally:
            self._lock.release()
        return (0 if cur is None else int(cur[0])), rows

    def get_vehicle_page(self, vehicle_id: str, before: int | None, limit: int) -> dict[str, Any]:
        """Return a vehicle's access-log entries (seq below ``before``), newest first."""
        return self._get_log_page(_VEHICLE_LOG, vehicle_id, before, limit)

    def get_oem_page(self, oem: str, before: int | None, limit: int) -> dict[str, Any]:
        """Return an OEM's access-log entries (OEM seq below ``before``), newest first."""
        return self._get_log_page(_OEM_LOG, oem, before, limit)

    def _get_log_page(
        self, log: tuple[str, str], owner: str, before: int | None, limit: int
    ) -> dict[str, Any]:
        """Return one log's page: ``log`` names its owner column and its seq column."""
        validate_limit(limit)
        owner_column, seq_column = log
        query = (
            f"SELECT {_ACCESS_COLUMNS} FROM access_log WHERE {owner_column} = %s "
            f"AND {seq_column} < %s ORDER BY {seq_column} DESC LIMIT %s"
        )
        height, rows = self._fetch(query, (owner, _top(before), limit))
        entries = [_access_entry(r) for r in rows]
        return _page(height, entries, [e[seq_column] for e in entries], limit)

    def get_actor_page(
        self, actor_member: str, since_ms: int, until_ms: int, limit: int
    ) -> dict[str, Any]:
        """Return what one member did (its access-log entries in a time range), newest first."""
        validate_limit(limit)
        query = (
            f"SELECT {_ACCESS_COLUMNS} FROM access_log WHERE actor_member = %s "
            "AND time_ms >= %s AND time_ms < %s ORDER BY time_ms DESC, vehicle_id, seq DESC "
            "LIMIT %s"
        )
        height, rows = self._fetch(query, (actor_member, since_ms, until_ms, limit))
        entries = [_access_entry(r) for r in rows]
        return {"indexed_height": height, "proven": False, "events": entries}

    def get_events(
        self, event_type: str, vehicle: str, before: tuple[int, int, int] | None, limit: int
    ) -> dict[str, Any]:
        """Return events (of a type, of a vehicle) before position ``before``, newest first."""
        validate_limit(limit)
        where = ["(height, tx_index, event_index) < (%s, %s, %s)"]
        params: list[object] = list(_pos(before))
        if event_type:
            where.append("type = %s")
            params.append(event_type)
        if vehicle:
            where.append("vehicle_id = %s")
            params.append(vehicle)
        query = (
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE {' AND '.join(where)} "
            "ORDER BY height DESC, tx_index DESC, event_index DESC LIMIT %s"
        )
        height, rows = self._fetch(query, (*params, limit))
        events = [_event_doc(r) for r in rows]
        next_before = events[-1]["id"] if len(events) == limit else None
        return {"indexed_height": height, "proven": False, "events": events,
                "next_before": next_before}  # fmt: skip


def _top(before: int | None) -> int:
    if before is not None and before < 0:
        raise ApiError("before must be a seq from 0 up")
    return 2**63 - 1 if before is None else before


def _pos(before: tuple[int, int, int] | None) -> tuple[int, int, int]:
    return (2**63 - 1, 0, 0) if before is None else before


def _page(
    height: int, entries: list[dict[str, Any]], seqs: list[int], limit: int
) -> dict[str, Any]:
    next_before = seqs[-1] if len(seqs) == limit and seqs[-1] > 0 else None
    return {"indexed_height": height, "proven": False, "events": entries,
            "next_before": next_before}  # fmt: skip
