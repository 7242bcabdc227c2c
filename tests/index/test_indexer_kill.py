"""An indexer process killed (SIGKILL) in the middle of a run's transaction: the index
keeps the last committed cursor and its rows, and a restart writes every row once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg

from carchain.index.follower import run_indexer
from carchain.index.store import IndexStore
from tests.index.synthetic import SyntheticSource
from tests.postgres_cluster import create_database

ROOT = Path(__file__).resolve().parents[2]
BLOCKS, TXS, BATCH = 40, 400, 4
DEADLINE_S = 120.0


def _rows(dsn: str) -> dict[str, object]:
    with psycopg.connect(dsn) as conn:
        cursor = conn.execute("SELECT height FROM index_cursor").fetchone()
        counts = {
            t: conn.execute(f"SELECT count(*), count(DISTINCT height) FROM {t}").fetchone()
            for t in ("blocks", "transactions", "events")
        }
        digest = conn.execute(
            "SELECT md5(string_agg(height || ':' || tx_index || ':' || event_index || type, ',' "
            "ORDER BY height, tx_index, event_index)) FROM events"
        ).fetchone()
    return {"cursor": cursor, "counts": counts, "digest": digest}


def _wait_mid_transaction(admin: str, dbname: str, proc: subprocess.Popen[bytes]) -> None:
    """Return once the indexer has committed a run and is inside the next one's COPYs."""
    deadline = time.monotonic() + DEADLINE_S
    query = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND "
        "(query LIKE 'COPY%%' AND state = 'active' OR state = 'idle in transaction') "
        "AND (SELECT height FROM index_cursor) > 0"
    )
    db = admin.replace("dbname=postgres", f"dbname={dbname}")
    with psycopg.connect(db, autocommit=True) as conn:
        while time.monotonic() < deadline:
            assert proc.poll() is None, "the indexer ended before it could be killed"
            try:
                (n,) = conn.execute(query, (dbname,)).fetchone() or (0,)
            except psycopg.errors.UndefinedTable:
                n = 0
            if n:
                return
            time.sleep(0.005)
    raise AssertionError("the indexer never reached a second run's COPY")


def test_sigkill_mid_run_then_restart_writes_every_row_once(pg_admin_dsn: str) -> None:
    dsn = create_database(pg_admin_dsn, "killed")
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'src'}:{ROOT}")
    cmd = [sys.executable, "-m", "tests.index.synthetic", dsn, str(BLOCKS), str(TXS), str(BATCH)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env)
    try:
        _wait_mid_transaction(pg_admin_dsn, "killed", proc)
        proc.send_signal(signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
    after_kill = _rows(dsn)
    cursor = after_kill["cursor"][0]  # type: ignore[index]
    assert 0 < cursor < BLOCKS and cursor % BATCH == 0
    # Exactly the committed heights' rows: none of the killed run's.
    assert after_kill["counts"]["blocks"] == (cursor, cursor)  # type: ignore[index]
    assert after_kill["counts"]["transactions"] == (cursor * TXS, cursor)  # type: ignore[index]
    source = SyntheticSource(BLOCKS, TXS)
    store = IndexStore.open(dsn)
    try:
        assert run_indexer(source, store, follow=False, batch_blocks=BATCH) == BLOCKS
    finally:
        store.close()
    clean = create_database(pg_admin_dsn, "unkilled")
    store = IndexStore.open(clean)
    try:
        run_indexer(source, store, follow=False, batch_blocks=BATCH)
    finally:
        store.close()
    assert _rows(dsn) == _rows(clean)
    assert _rows(dsn)["counts"]["events"] == (BLOCKS * TXS * 2, BLOCKS)  # type: ignore[index]
