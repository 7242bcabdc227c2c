"""The PostgreSQL audit index: write throughput and access-log page latency.

1. rows/s: the indexer's write path (rows computed from block views, then one
   transaction: delete the heights, COPY per table, move the cursor) against a
   plain COPY of the same rows into the same tables. Goal: ratio >= 0.5.
2. page latency: an access-log page (20 entries, newest first) through the index's
   reader (``AuditIndex``, one connection, snapshot read of cursor and rows) at
   ``--events`` entries, vehicle and OEM pages at random cursors. Goal: p99 < 10 ms.

Runs its own throwaway server (``tests/postgres_cluster.py``: Debian's postgresql,
Unix socket, fsync off) unless ``--dsn`` names one. Prints a table.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.postgres_cluster import create_database, find_pg_bin, run_cluster

from carchain.core.transactions import Envelope, encode
from carchain.core.types import Event, TxResult
from carchain.index.queries import AuditIndex
from carchain.index.rows import IndexRows, compute_block_rows
from carchain.index.schema import COLUMNS
from carchain.index.store import IndexStore
from carchain.node.backend import BlockView

VEHICLES_PER_OEM = 100_000
OEMS = 10


def make_block(height: int, txs: int) -> BlockView:
    """Return a block of ``txs`` access requests (2 events each), as a node serves it."""
    raws, results = [], []
    for i in range(txs):
        signer = (height * 100_003 + i).to_bytes(32, "big")
        env = Envelope(1, "bench", signer, height, "access.request", b"\x80", b"\x00" * 64)
        raws.append(encode(env))
        vehicle = f"oem{i % OEMS}:{(height * txs + i) % VEHICLES_PER_OEM}"
        events = [
            Event("tx", {"type": "access.request", "signer": signer.hex()}),
            Event("access_requested", {"vehicle_id": vehicle, "seq": str(i), "member_id": "m1"}),
        ]
        results.append(TxResult(0, "", "", events))
    return BlockView(height, b"h" * 32, height * 1000, b"p" * 32, b"t" * 32, b"a" * 32,
                     b"v" * 32, raws, results)  # fmt: skip


def access_rows(height: int, txs: int) -> list[tuple[object, ...]]:
    """Return one access-log row per transaction of the block (what the follower adds)."""
    out: list[tuple[object, ...]] = []
    for i in range(txs):
        n = height * txs + i
        oem = f"oem{i % OEMS}"
        vehicle = f"{oem}:{n % VEHICLES_PER_OEM}"
        row = (vehicle, n, oem, n, "request", height, height * 1000, b"k" * 32, "m1", 0)
        out.append((*row, ["diagnostics"], "purpose"))
    return out


def bench_write(dsn_a: str, dsn_b: str, blocks: int, txs: int) -> tuple[int, float, float]:
    """Return (rows, indexer rows/s, plain COPY rows/s)."""
    views = [make_block(h, txs) for h in range(1, blocks + 1)]
    store = IndexStore.open(dsn_a)
    t0 = time.perf_counter()
    all_rows = IndexRows()
    for b in views:
        rows = IndexRows()
        compute_block_rows(b, rows)
        rows.access_log.extend(access_rows(b.height, txs))
        store.write_run(b.height, b.height, rows)
        for name, table in rows.tables().items():
            all_rows.tables()[name].extend(table)
    indexer_s = time.perf_counter() - t0
    store.close()
    plain = IndexStore.open(dsn_b)  # the same tables and indexes, written by bare COPY
    t0 = time.perf_counter()
    with plain.conn.cursor() as cur:
        for name, table in all_rows.tables().items():
            cols = ", ".join(COLUMNS[name])
            with cur.copy(f"COPY {name} ({cols}) FROM STDIN") as copy:  # type: ignore[arg-type]
                for row in table:
                    copy.write_row(row)
    plain_s = time.perf_counter() - t0
    plain.close()
    n = all_rows.count()
    return n, n / indexer_s, n / plain_s


FILL = """
INSERT INTO access_log
SELECT 'oem' || (n %% 10) || ':' || ((n / 10) %% %(vehicles)s), n / (10 * %(vehicles)s),
       'oem' || (n %% 10), n / 10, 'request', n / 1000, n, '\\x00'::bytea, 'm' || (n %% 50),
       0, ARRAY['diagnostics'], ''
FROM generate_series(0, %(events)s - 1) AS n;
UPDATE index_cursor SET height = %(events)s / 1000;
ANALYZE access_log;
"""


def bench_pages(dsn: str, events: int, samples: int) -> dict[str, list[float]]:
    """Fill ``access_log`` with ``events`` rows; return page latencies (ms) by kind."""
    store = IndexStore.open(dsn)
    vehicles = max(1, min(VEHICLES_PER_OEM, events // 100))
    with store.conn.transaction():
        for statement in FILL.strip().split(";\n"):
            store.conn.execute(statement, {"events": events, "vehicles": vehicles})  # type: ignore[arg-type]
    store.close()
    reader = AuditIndex(dsn)
    rng = random.Random(7)
    per_vehicle = events // (10 * vehicles)
    out: dict[str, list[float]] = {"vehicle": [], "oem": []}
    for _ in range(samples):
        v = f"oem{rng.randrange(10)}:{rng.randrange(vehicles)}"
        before = rng.randrange(1, per_vehicle + 1) if rng.random() < 0.5 else None
        t0 = time.perf_counter()
        page = reader.get_vehicle_page(v, before, 20)
        out["vehicle"].append((time.perf_counter() - t0) * 1000)
        assert page["events"] or per_vehicle == 0
        oem = f"oem{rng.randrange(10)}"
        before = rng.randrange(1, events // 10) if rng.random() < 0.5 else None
        t0 = time.perf_counter()
        reader.get_oem_page(oem, before, 20)
        out["oem"].append((time.perf_counter() - t0) * 1000)
    reader.close()
    return out


def p99(xs: list[float]) -> float:
    """Return the 99th percentile."""
    return statistics.quantiles(xs, n=100)[98]


@contextmanager
def server(dsn: str) -> Iterator[str]:
    """Yield an admin DSN: ``dsn`` as given, or a throwaway server's."""
    if dsn:
        yield dsn
        return
    bin_dir = find_pg_bin()
    if bin_dir is None:
        raise SystemExit("no PostgreSQL server: run scripts/setup_postgres.py or give --dsn")
    with run_cluster(bin_dir) as admin:
        yield admin


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Run both measurements and print the table; return the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--blocks", type=int, default=20)
    ap.add_argument("--txs", type=int, default=5000, help="transactions per block")
    ap.add_argument("--events", type=int, default=10_000_000, help="access-log rows for pages")
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--dsn", default="", help="an admin DSN (default: a throwaway server)")
    args = ap.parse_args(argv)
    with server(args.dsn) as admin:
        tag = str(time.time_ns())[-8:]
        a, b, c = (create_database(admin, f"bench_{k}_{tag}") for k in "wpq")
        n, indexer, plain = bench_write(a, b, args.blocks, args.txs)
        t0 = time.perf_counter()
        pages = bench_pages(c, args.events, args.samples)
        fill_s = time.perf_counter() - t0
    figures = {
        "rows": n, "indexer_rows_s": indexer, "copy_rows_s": plain, "ratio": indexer / plain,
        "vehicle_p50": statistics.median(pages["vehicle"]), "vehicle_p99": p99(pages["vehicle"]),
        "oem_p50": statistics.median(pages["oem"]), "oem_p99": p99(pages["oem"]),
    }  # fmt: skip
    print(f"{'measure':<44} {'value':>12}  goal")
    label = f"rows written ({args.blocks} blocks x {args.txs} txs)"
    print(f"{label:<44} {n:>12}")
    print(f"{'indexer rows/s (compute + delete + COPY)':<44} {indexer:>12.0f}")
    print(f"{'plain COPY rows/s (same rows, same tables)':<44} {plain:>12.0f}")
    print(f"{'ratio indexer / plain COPY':<44} {figures['ratio']:>12.2f}  >= 0.5")
    print(f"{'access-log rows for pages':<44} {args.events:>12}  (fill+samples {fill_s:.0f} s)")
    for kind in ("vehicle", "oem"):
        print(f"{kind + ' page (20) p50 ms':<44} {figures[kind + '_p50']:>12.2f}")
        print(f"{kind + ' page (20) p99 ms':<44} {figures[kind + '_p99']:>12.2f}  < 10")
    return figures


if __name__ == "__main__":
    main()
