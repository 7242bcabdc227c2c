"""The audit index's tables (PostgreSQL), created when missing.

Positions are the chain's: an event is ``(height, tx_index, event_index)``, an
access-log entry ``(vehicle_id, seq)`` and its OEM-log position ``(oem, oem_seq)``.
``index_cursor`` holds the last height whose rows are all written; it is updated in
the same transaction as those rows.
"""

from __future__ import annotations

SCHEMA_VERSION = 1

# Column order of each table as ``rows`` computes them (COPY writes in this order).
COLUMNS: dict[str, tuple[str, ...]] = {
    "blocks": ("height", "hash", "time_ms", "app_hash", "tx_count"),
    "transactions": ("height", "tx_index", "tx_hash", "type", "signer", "code", "error_code"),
    "events": (
        "height", "tx_index", "event_index", "tx_hash", "time_ms", "type", "signer",
        "vehicle_id", "attributes",
    ),
    "anchors": ("height", "tx_index", "oem", "seq", "root", "batch_count"),
    "access_log": (
        "vehicle_id", "seq", "oem", "oem_seq", "kind", "height", "time_ms", "actor",
        "actor_member", "ref", "categories", "detail",
    ),
}  # fmt: skip

DDL = """
CREATE TABLE IF NOT EXISTS index_cursor (
    id smallint PRIMARY KEY CHECK (id = 1),
    height bigint NOT NULL,
    schema_version integer NOT NULL
);
CREATE TABLE IF NOT EXISTS blocks (
    height bigint PRIMARY KEY,
    hash bytea NOT NULL,
    time_ms bigint NOT NULL,
    app_hash bytea NOT NULL,
    tx_count integer NOT NULL
);
CREATE TABLE IF NOT EXISTS transactions (
    height bigint NOT NULL,
    tx_index integer NOT NULL,
    tx_hash bytea NOT NULL,
    type text NOT NULL,
    signer text NOT NULL,
    code integer NOT NULL,
    error_code text NOT NULL,
    PRIMARY KEY (height, tx_index)
);
CREATE INDEX IF NOT EXISTS transactions_hash ON transactions (tx_hash);
CREATE TABLE IF NOT EXISTS events (
    height bigint NOT NULL,
    tx_index integer NOT NULL,
    event_index integer NOT NULL,
    tx_hash bytea NOT NULL,
    time_ms bigint NOT NULL,
    type text NOT NULL,
    signer text NOT NULL,
    vehicle_id text NOT NULL,
    attributes jsonb NOT NULL,
    PRIMARY KEY (height, tx_index, event_index)
);
CREATE INDEX IF NOT EXISTS events_type ON events (type, height, tx_index, event_index);
CREATE INDEX IF NOT EXISTS events_vehicle ON events (vehicle_id, height, tx_index, event_index)
    WHERE vehicle_id <> '';
CREATE TABLE IF NOT EXISTS anchors (
    height bigint NOT NULL,
    tx_index integer NOT NULL,
    oem text NOT NULL,
    seq bigint NOT NULL,
    root bytea NOT NULL,
    batch_count bigint NOT NULL,
    PRIMARY KEY (height, tx_index)
);
CREATE INDEX IF NOT EXISTS anchors_oem ON anchors (oem, seq);
CREATE TABLE IF NOT EXISTS access_log (
    vehicle_id text NOT NULL,
    seq bigint NOT NULL,
    oem text NOT NULL,
    oem_seq bigint NOT NULL,
    kind text NOT NULL,
    height bigint NOT NULL,
    time_ms bigint NOT NULL,
    actor bytea NOT NULL,
    actor_member text NOT NULL,
    ref bigint NOT NULL,
    categories text[] NOT NULL,
    detail text NOT NULL,
    PRIMARY KEY (vehicle_id, seq)
);
CREATE UNIQUE INDEX IF NOT EXISTS access_log_oem ON access_log (oem, oem_seq);
CREATE INDEX IF NOT EXISTS access_log_height ON access_log (height);
CREATE INDEX IF NOT EXISTS access_log_actor ON access_log (actor_member, time_ms)
    WHERE actor_member <> '';
"""

# Tables whose rows belong to one height (deleted by height when a height is re-indexed).
HEIGHT_TABLES = ("blocks", "transactions", "events", "anchors", "access_log")
