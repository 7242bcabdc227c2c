"""The PostgreSQL audit index follows an embedded node: every event, transaction and
access-log entry exactly once, resumable after a kill, idempotent when re-run, and
written with a fixed number of statements per run (COPY), whatever the row count."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
import psycopg
import pytest

from carchain.core import access_log as log
from carchain.errors import IndexUnavailable
from carchain.index.follower import index_next_run, run_indexer
from carchain.index.rows import IndexRows, compute_block_rows
from carchain.index.schema import HEIGHT_TABLES
from carchain.index.source import BackendSource, HttpSource
from carchain.index.store import IndexStore
from carchain.node.backend import BlockView
from carchain.node.events import iterate_block_events
from tests.access_log_chain import LogChain, log_chain, test_tx_type

__all__ = ["log_chain", "test_tx_type"]


@pytest.fixture
def store(pg_dsn: str) -> Iterator[IndexStore]:
    s = IndexStore.open(pg_dsn)
    try:
        yield s
    finally:
        s.close()


def fill_chain(chain: LogChain) -> None:
    """Two OEMs' vehicles, access events over several blocks (some blocks have none)."""
    chain.register("saic:1")
    chain.register("saic:2")
    chain.register("geely:1")
    chain.append("saic:1", 3, "grant")
    chain.append("geely:1", 2, "request")
    chain.append("saic:2", 250, "request")  # more than one OEM-log chunk (100)
    chain.append("saic:1", 1, "release")


def dump(dsn: str) -> dict[str, list[tuple[Any, ...]]]:
    """Return every table's rows in a fixed order."""
    with psycopg.connect(dsn) as conn:
        return {
            t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr)
            for t in (*HEIGHT_TABLES, "index_cursor")
        }


def all_blocks(chain: LogChain) -> list[BlockView]:
    backend = chain.node
    top = backend.status().height
    blocks = [backend.get_block_optional(h) for h in range(1, top + 1)]
    return [b for b in blocks if b is not None]


def test_index_holds_every_event_and_access_entry_once(
    log_chain: LogChain, store: IndexStore, pg_dsn: str
) -> None:
    fill_chain(log_chain)
    cursor = run_indexer(BackendSource(log_chain.node), store, follow=False, batch_blocks=2)
    assert cursor == log_chain.node.status().height
    rows = dump(pg_dsn)
    events = [e for b in all_blocks(log_chain) for e in iterate_block_events(b)]
    assert len(rows["events"]) == len(events) > 0
    assert sorted((r[0], r[1], r[2]) for r in rows["events"]) == sorted(
        (e.position.height, e.position.tx_index, e.position.event_index) for e in events
    )
    assert len(rows["transactions"]) == sum(len(b.txs) for b in all_blocks(log_chain))
    assert len(rows["blocks"]) == cursor
    access = rows["access_log"]
    assert len(access) == 3 + 2 + 250 + 1
    assert len({(r[0], r[1]) for r in access}) == len(access)
    # Each OEM's log is numbered 0..n-1 with no gap.
    saic = sorted(r[3] for r in access if r[2] == "saic")
    assert saic == list(range(254))


def test_index_routes_answer_the_state_routes_entries(
    log_chain: LogChain, store: IndexStore, pg_dsn: str
) -> None:
    from fastapi.testclient import TestClient

    from carchain.api.app import create_app
    from carchain.index.queries import AuditIndex

    fill_chain(log_chain)
    run_indexer(BackendSource(log_chain.node), store, follow=False)
    reader = AuditIndex(pg_dsn)
    try:
        with TestClient(create_app(log_chain.node, None, reader)) as http:
            for vehicle in ("saic:1", "saic:2", "geely:1"):
                state = _walk(log_chain.http, f"/vehicles/{vehicle}/access-log")
                indexed = _walk(http, f"/index/vehicles/{vehicle}/access-log")
                assert [e["event"] for e in indexed] == [e["event"] for e in state]
            for oem in ("saic", "geely", "bosch"):
                state = _walk(log_chain.http, f"/members/{oem}/access-log")
                indexed = _walk(http, f"/index/members/{oem}/access-log")
                assert [(e["oem_seq"], e["event"]) for e in indexed] == [
                    (e["oem_seq"], e["event"]) for e in state
                ]
            page = http.get("/index/vehicles/saic:1/access-log").json()
            assert page["proven"] is False
            assert page["indexed_height"] == log_chain.node.status().height
    finally:
        reader.close()


def _walk(http: Any, path: str) -> list[dict[str, Any]]:
    """Return every entry of a paged access log, following ``next_before``."""
    out: list[dict[str, Any]] = []
    before = None
    while True:
        params = {"limit": 37} | ({} if before is None else {"before": before})
        resp = http.get(path, params=params)
        assert resp.status_code == 200, resp.text
        page = resp.json()
        out += page["events"]
        before = page["next_before"]
        if before is None:
            return out


def test_http_source_indexes_the_same_rows_as_the_backend(
    log_chain: LogChain, pg_admin_dsn: str
) -> None:
    from tests.postgres_cluster import create_database

    fill_chain(log_chain)
    dsns = [create_database(pg_admin_dsn, f"src_{kind}") for kind in ("backend", "http")]
    sources = [BackendSource(log_chain.node), HttpSource(log_chain.sdk())]
    for dsn, source in zip(dsns, sources, strict=True):
        s = IndexStore.open(dsn)
        try:
            run_indexer(source, s, follow=False, batch_blocks=3)
        finally:
            s.close()
    assert dump(dsns[0]) == dump(dsns[1])


def test_rerunning_the_same_heights_changes_nothing(
    log_chain: LogChain, store: IndexStore, pg_dsn: str
) -> None:
    fill_chain(log_chain)
    source = BackendSource(log_chain.node)
    run_indexer(source, store, follow=False)
    first = dump(pg_dsn)
    # Re-index everything, then again from the middle: the same rows, once each.
    store.rewind(0)
    assert store.get_cursor() == 0
    run_indexer(source, store, follow=False, batch_blocks=1)
    store.rewind(5)
    run_indexer(source, store, follow=False)
    assert dump(pg_dsn) == first
    # A run starts right after the cursor: one over heights already held (a second
    # writer's) is refused and changes nothing; re-indexing goes through rewind.
    rows = IndexRows()
    for b in all_blocks(log_chain)[:3]:
        compute_block_rows(b, rows)
    with pytest.raises(IndexUnavailable) as refused:
        store.write_run(1, 3, rows)
    assert refused.value.fields["reason"] == "cursor_moved"
    assert dump(pg_dsn) == first
    store.rewind(0)
    store.write_run(1, 3, rows)
    again = dump(pg_dsn)
    assert again["blocks"] == [r for r in first["blocks"] if r[0] <= 3]
    # ... and an empty run over a height leaves nothing of it.
    store.rewind(0)
    store.write_run(1, 1, IndexRows())
    assert [r for r in dump(pg_dsn)["blocks"] if r[0] == 1] == []
    assert store.get_cursor() == 1


def test_caught_up_indexer_writes_nothing(log_chain: LogChain, store: IndexStore) -> None:
    fill_chain(log_chain)
    source = BackendSource(log_chain.node)
    run_indexer(source, store, follow=False)
    before = store.statements
    assert index_next_run(source, store) is None
    assert store.statements == before + 1  # reads the cursor, nothing else


def test_a_kill_mid_write_leaves_the_cursor_and_resumes_exactly_once(
    log_chain: LogChain,
    store: IndexStore,
    pg_dsn: str,
    pg_admin_dsn: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.postgres_cluster import create_database

    fill_chain(log_chain)
    source = BackendSource(log_chain.node)
    assert index_next_run(source, store, batch_blocks=4) is not None
    assert store.get_cursor() == 4
    # Kill the writer's server session in the middle of its next transaction's COPYs.
    pid = store.conn.info.backend_pid
    original = IndexStore._copy
    copies = 0

    def copy_then_kill(self: IndexStore, table: str, rows: list[Any]) -> None:
        nonlocal copies
        original(self, table, rows)
        copies += 1
        if copies == 2:
            with psycopg.connect(pg_admin_dsn, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))

    monkeypatch.setattr(IndexStore, "_copy", copy_then_kill)
    with pytest.raises(IndexUnavailable):
        index_next_run(source, store, batch_blocks=100)
    monkeypatch.setattr(IndexStore, "_copy", original)
    # A new indexer process resumes from the committed cursor.
    resumed = IndexStore.open(pg_dsn)
    try:
        assert resumed.get_cursor() == 4
        run_indexer(source, resumed, follow=False)
    finally:
        resumed.close()
    clean_dsn = create_database(pg_admin_dsn, "clean")
    clean = IndexStore.open(clean_dsn)
    try:
        run_indexer(source, clean, follow=False)
    finally:
        clean.close()
    assert dump(pg_dsn) == dump(clean_dsn)


def test_a_run_sends_a_fixed_number_of_statements(log_chain: LogChain, store: IndexStore) -> None:
    log_chain.register("saic:1")
    log_chain.append("saic:1", 2)
    source = BackendSource(log_chain.node)
    run_indexer(source, store, follow=False)
    log_chain.append("saic:1", 1)
    small = _statements_of_next_run(source, store)
    log_chain.append("saic:1", 400)
    large = _statements_of_next_run(source, store)
    # cursor, OEM seqs, 5 deletes, one COPY per non-empty table, cursor update.
    assert small == large <= 2 + len(HEIGHT_TABLES) * 2 + 1


def _statements_of_next_run(source: BackendSource, store: IndexStore) -> int:
    before = store.statements
    report = index_next_run(source, store)
    assert report is not None and report.rows > 0
    return store.statements - before


def test_copy_is_the_only_way_rows_are_written(
    log_chain: LogChain, store: IndexStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    log_chain.register("saic:1")
    log_chain.append("saic:1", 300)
    sent: list[str] = []
    original = IndexStore._execute

    def record(self: IndexStore, query: Any, params: Any = None) -> Any:
        sent.append(query if isinstance(query, str) else query.as_string(self.conn))
        return original(self, query, params)

    monkeypatch.setattr(IndexStore, "_execute", record)
    run_indexer(BackendSource(log_chain.node), store, follow=False)
    assert not [q for q in sent if "INSERT" in q.upper()]
    assert store.conn.execute("SELECT count(*) FROM access_log").fetchone() == (300,)


@pytest.mark.parametrize(
    "dsn",
    ["host=/nonexistent-carchain-socket-dir dbname=x user=x", "not a dsn = = =", "port=notanumber"],
)
def test_a_bad_dsn_or_absent_server_is_a_typed_error(dsn: str) -> None:
    with pytest.raises(IndexUnavailable) as exc:
        IndexStore.open(dsn)
    assert exc.value.to_dict()["code"] == "index_unavailable"


@pytest.mark.parametrize(
    "dsn",
    [
        "host=/nonexistent-carchain user=u password=s3cret-pw dbname=d",
        "host=/nonexistent-carchain password=s3cret pw dbname=d",  # unquoted space: no parse
        "postgresql://u:s3cret-pw@/d?host=/nonexistent-carchain",
        "postgresql://u:s3%zzcret@localhost/db",  # libpq quoted the bad token (a review)
        "postgresql://u:s3cret@[::1/db",  # and the whole URI
    ],
)
def test_the_error_names_no_password(dsn: str) -> None:
    with pytest.raises(IndexUnavailable) as exc:
        IndexStore.open(dsn)
    text = str(exc.value.to_dict()) + str(exc.value.__cause__ or "")
    assert "s3cret" not in text and " pw" not in text


def test_access_rows_carry_only_what_the_chain_holds(
    log_chain: LogChain, store: IndexStore, pg_dsn: str
) -> None:
    fill_chain(log_chain)
    run_indexer(BackendSource(log_chain.node), store, follow=False)
    view = log_chain.node
    with psycopg.connect(pg_dsn) as conn:
        rows = conn.execute(
            "SELECT vehicle_id, seq, kind, actor, detail FROM access_log"
        ).fetchall()
    for vehicle, seq, kind, actor, detail in rows:
        q = view.query(log.STORE, log.compute_log_key(vehicle, seq), False, 0)
        stored = msgspec.msgpack.decode(q.value, type=log.AccessEvent)
        assert (stored.kind, stored.actor, stored.detail) == (kind, bytes(actor), detail)
