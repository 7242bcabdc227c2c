"""Chain growth: bytes on disk per day for a fleet's anchors.

The load of issue 14: 1M vehicles each sending one batch a minute through 10 OEM
gateways, 1 s blocks. Each gateway anchors what it accepted in one
``anchor.submit`` per block (1M / 60 s / 10 = 1,667 batches a second, each
anchor carrying only the root and the counts), so a block holds 10 anchors.
The bench drives the real solo engine (``Application`` + ``SoloEngine``, SQLite
WAL, full fsync) for BLOCKS such blocks, then measures the database by table
with SQLite's ``dbstat`` (pages in use, as on disk) and the file sizes, and
projects each per day (86,400 blocks). The growth per block is measured between
the first WARMUP blocks and the end, so the fixed cost of genesis and the state
window (``state_versions`` heights of history, pruned from the front) are not
projected as growth.

Usage: ``.venv/bin/python bench/bench_chain_growth.py [--blocks 3000]
[--warmup 500] [--oems 10] [--versions 100]``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from carchain.core.anchors import SubmitAnchor
from carchain.core.genesis import Genesis, GenesisMember
from carchain.core.governance import GovernanceParams
from carchain.crypto.signing import SigningKey
from carchain.engine.application import Application
from carchain.engine.solo import SoloEngine
from carchain.sdk.transactions import build_tx
from carchain.storage.database import Database
from carchain.storage.history import DEFAULT_STATE_VERSIONS

CHAIN_ID = "carchain-growth"
BLOCKS_PER_DAY = 86_400
FLEET = 1_000_000
BATCHES_PER_ANCHOR = FLEET // 60 // 10  # one batch a minute, 10 gateways, 1 s blocks
RECORDS_PER_BATCH = 60
GOAL_MB_PER_DAY = 200.0


def make_keys(oems: int) -> dict[str, SigningKey]:
    """Return deterministic keys for ``oems`` OEM members."""
    names = [f"oem-{i:02d}" for i in range(oems)]
    return {m: SigningKey.from_seed(hashlib.sha256(m.encode()).digest()) for m in names}


def make_genesis(keys: dict[str, SigningKey]) -> Genesis:
    """Return a genesis with every OEM a member."""
    members = [GenesisMember(m, m.upper(), ["oem"], k.public_key.hex()) for m, k in keys.items()]
    return Genesis(CHAIN_ID, 0, GovernanceParams(2, 3, 1000), members)


def make_anchor_tx(key: SigningKey, seq: int, now_ms: int) -> bytes:
    """Return the signed ``anchor.submit`` of one gateway for one block."""
    root = hashlib.sha256(key.public_key + seq.to_bytes(8, "big")).digest()
    body = SubmitAnchor(
        seq=seq,
        root=root,
        batch_count=BATCHES_PER_ANCHOR,
        record_count=BATCHES_PER_ANCHOR * RECORDS_PER_BATCH,
        start_ms=now_ms - 1_000,
        end_ms=now_ms,
        manifest_hash=hashlib.sha256(root).digest(),
    )
    return build_tx(CHAIN_ID, key, seq, body)


def measure_tables(path: Path) -> dict[str, int]:
    """Return the bytes of every table and index of the database (``dbstat`` pages)."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall()
    finally:
        conn.close()
    return {str(name): int(size) for name, size in rows}


def count_state_rows(conn: sqlite3.Connection) -> dict[str, int]:
    """Return the number of live-state rows and commitment nodes of each store."""
    out: dict[str, int] = {}
    for store, n in conn.execute("SELECT store, COUNT(*) FROM kv GROUP BY store"):
        out[f"kv rows: {store}"] = int(n)
    for store, n in conn.execute("SELECT store, COUNT(*) FROM nodes GROUP BY store"):
        out[f"node rows: {store}"] = int(n)
    return out


def measure_block_row(conn: sqlite3.Connection, height: int) -> dict[str, float]:
    """Return the stored bytes of one block's header, transactions and results."""
    row = conn.execute(
        "SELECT length(header), length(txs), length(results) FROM blocks WHERE height = ?",
        (height,),
    ).fetchone()
    names = ("(stored header)", "(stored transactions)", "(stored results)")
    return {name: float(n) for name, n in zip(names, row, strict=True)}


def measure_files(folder: Path) -> int:
    """Return the bytes of every file in ``folder`` (database and WAL)."""
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())


def run(
    blocks: int, warmup: int, oems: int, versions: int, folder: Path
) -> tuple[dict[str, float], dict[str, float]]:
    """Commit ``blocks`` blocks of anchors; return bytes per block by table (and the
    totals), and state rows added per block by store."""
    keys = make_keys(oems)
    path = folder / "state.db"
    db = Database(path)
    app = Application(db, versions)
    app.init_chain(make_genesis(keys))
    engine = SoloEngine(app)
    before: dict[str, int] = {}
    rows_before: dict[str, int] = {}
    files_before = 0
    tx_bytes = 0
    for height in range(1, blocks + 1):
        now_ms = 1_700_000_000_000 + height * 1_000
        for key in keys.values():
            raw = make_anchor_tx(key, height, now_ms)
            tx_bytes += len(raw)
            res = engine.submit(raw)
            if not res.ok:
                raise SystemExit(f"check_tx refused an anchor: {res.error_code} {res.log}")
        block = engine.produce_block(now_ms)
        if block is None or any(r.code for r in block.results):
            raise SystemExit(f"block {height} did not commit every anchor")
        if height == warmup:
            db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            before, files_before = measure_tables(path), measure_files(folder)
            rows_before = count_state_rows(db.conn)
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    after, files_after = measure_tables(path), measure_files(folder)
    rows_after = count_state_rows(db.conn)
    stored = measure_block_row(db.conn, blocks)
    db.close()
    grown = blocks - warmup
    out = {name: (after[name] - before.get(name, 0)) / grown for name in after}
    out["(files on disk)"] = (files_after - files_before) / grown
    out["(transactions' own bytes)"] = tx_bytes / blocks
    out.update(stored)
    rows = {k: (n - rows_before.get(k, 0)) / grown for k, n in rows_after.items()}
    return out, {k: v for k, v in rows.items() if v}


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Measure, print the tables; return the bytes per block by table and the totals."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=3_000)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--oems", type=int, default=10)
    parser.add_argument("--versions", type=int, default=DEFAULT_STATE_VERSIONS)
    args = parser.parse_args(argv)
    if not 0 < args.warmup < args.blocks or args.warmup < args.versions:
        raise SystemExit("need versions <= warmup < blocks")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="carchain-growth-") as tmp:
        per_block, rows = run(args.blocks, args.warmup, args.oems, args.versions, Path(tmp))
    elapsed = time.perf_counter() - start

    table = Table(
        title=(
            f"chain growth: {args.oems} gateways x 1 anchor per 1 s block "
            f"({BATCHES_PER_ANCHOR:,} batches each), {args.blocks:,} blocks, "
            f"window {args.versions}"
        )
    )
    table.add_column("table / index")
    table.add_column("bytes/block", justify="right")
    table.add_column("bytes/anchor", justify="right")
    table.add_column("MB/day", justify="right")
    totals = {k: v for k, v in per_block.items() if k.startswith("(")}
    tables = sorted(
        ((k, v) for k, v in per_block.items() if not k.startswith("(")), key=lambda kv: -kv[1]
    )
    for name, b in [*tables, *totals.items()]:
        table.add_row(
            name, f"{b:,.0f}", f"{b / args.oems:,.0f}", f"{b * BLOCKS_PER_DAY / 1e6:,.1f}"
        )
    console = Console()
    console.print(table)
    row_table = Table(title="state rows added per block (live keys and commitment nodes)")
    row_table.add_column("rows")
    row_table.add_column("per block", justify="right")
    for name, n in sorted(rows.items()):
        row_table.add_row(name, f"{n:,.2f}")
    console.print(row_table)
    day = per_block["(files on disk)"] * BLOCKS_PER_DAY / 1e6
    verdict = "meets" if day <= GOAL_MB_PER_DAY else "above"
    console.print(f"on disk: {day:,.1f} MB/day ({verdict} the goal of {GOAL_MB_PER_DAY:.0f})")
    console.print(
        f"machine: {os.cpu_count()} cpus, python {sys.version.split()[0]}, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {os.getloadavg()[0]:.2f}, "
        f"{elapsed:.0f} s"
    )
    return per_block


if __name__ == "__main__":
    main()
