"""Storage engines for the commitment (issue 14): SQLite, LMDB and RocksDB on real write sets.

One run, one table. First it captures real write sets: a small real ledger
(``ledger_scale.Ledger``: the real engine, state, commitment, history and block
store) is grown to ``--base`` vehicles, then it commits ``--blocks`` blocks of
``--block-txs`` pre-signed ``vehicle.register`` and as many blocks of
``vehicle.rotate_key`` of random existing vehicles through the solo engine, and
records every statement ``StateStore.commit`` runs in its transaction (kv,
nodes, meta, history, state versions, its pruning, the block row and txindex
rows, with their parameters), by wrapping the database's ``transaction``.

Then, at each ``--vehicles`` size N, it pre-fills three stores with the same
rows: the small ledger's tables as they were before the captured blocks, plus
synthetic rows for N vehicles shaped like the captured registrations (each
per-vehicle store's rows with the captured keys' type prefixes and their last 16
bytes random, values of the captured lengths; every complete commitment node of trees that big;
a txindex row per vehicle); the captured tree's node positions are moved right
by 2**32 leaves, so the captured appends land at the right edge of each level,
as they do in a real ledger. It then replays the captured write sets block by
block, each block one durable transaction, into:

- SQLite with carchain's own ``Database`` (its schema, WAL, ``synchronous=FULL``,
  cache size and background ``Checkpointer``), running the captured statements;
- LMDB (``lmdb``): one environment, a named database per table, keys encoded so
  that they sort as SQLite's primary keys, ``sync=True``, ``writemap=False``;
- RocksDB (``rocksdict``): a column family per table, one ``WriteBatch`` per
  block written with ``sync=True``.

The key-value stores do what the SQL does: the history copy reads the current row
and writes it under the height, ``INSERT OR IGNORE`` checks first, the pruning is
a range delete. The backends are interleaved block by block (their order rotates),
so all see the same minutes of a shared machine. Per backend, size and kind: the
commit's wall ms per block (median, max), its CPU ms (``time.thread_time``), the
bytes passed to write calls during it (``/proc/self/io`` ``wchar``) and
including the drain after the blocks (SQLite's checkpoint, RocksDB's memtable
flush), the on-disk growth, and the point-read latency of random existing and
absent keys.

Usage: ``.venv/bin/python bench/bench_kv_backends.py [--vehicles 1e4,1e5,1e6]
[--blocks B] [--block-txs T] [--base M] [--reads R]``.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lmdb
import rocksdict
from rich.console import Console
from rich.table import Table

from carchain.storage.database import Database, run_transaction

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_ledger
import ledger_scale

Row = tuple[Any, ...]
Statement = tuple[str, list[Row]]  # SQL and the parameter rows it ran with
SHIFT = 2**32  # the captured tree's leaves start here (a multiple of every 2**level)
TABLES = (
    "meta",
    "kv",
    "nodes",
    "kv_history",
    "node_history",
    "state_versions",
    "blocks",
    "txindex",
)
BULK_ROWS = 200_000  # rows per pre-fill transaction
U64 = struct.Struct(">Q")
NODE_POS = struct.Struct(">BQ")
LEAF_HEIGHT = struct.Struct(">QQ")
TX_POS = struct.Struct(">QI")


# --- capture ---------------------------------------------------------------------


@dataclass
class WriteSet:
    """The statements one ``StateStore.commit`` ran, in order."""

    kind: str
    txs: int
    statements: list[Statement] = field(default_factory=list)
    real_ms: float = 0.0  # the real commit's wall time when captured
    real_cpu_ms: float = 0.0

    def rows(self) -> int:
        """Return the parameter rows of the block (one per written or copied row)."""
        return sum(len(rows) for _, rows in self.statements)


class RecordingConnection:
    """Forwards to a ``sqlite3.Connection`` and records each statement's rows."""

    def __init__(self, conn: Any, log: list[Statement]) -> None:
        self._conn = conn
        self._log = log

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Record and run one statement."""
        self._log.append((sql, [tuple(params)]))
        return self._conn.execute(sql, params)

    def executemany(self, sql: str, seq: Any) -> Any:
        """Record and run a statement over many rows."""
        rows = [tuple(r) for r in seq]
        self._log.append((sql, rows))
        return self._conn.executemany(sql, rows)


def shift_node(level: int, idx: int) -> int:
    """Return a captured node's position in the pre-filled tree."""
    return idx + (SHIFT >> level)


def shift_statement(sql: str, rows: list[Row]) -> list[Row]:
    """Move the captured leaves and nodes right by ``SHIFT`` leaves."""
    if sql.startswith("INSERT INTO kv "):
        return [(s, k, v, leaf + SHIFT, h) for s, k, v, leaf, h in rows]
    if sql.startswith("INSERT OR REPLACE INTO nodes"):
        return [(s, lv, shift_node(lv, ix), hh, h) for s, lv, ix, hh, h in rows]
    if sql.startswith("INSERT OR IGNORE INTO node_history"):
        return [(h, s, lv, shift_node(lv, ix)) for h, s, lv, ix in rows]
    return rows


def shift_table(table: str, rows: list[Row]) -> list[Row]:
    """Move a dumped table's leaves and nodes right by ``SHIFT`` leaves."""
    if table == "kv":
        return [(s, k, v, leaf + SHIFT, h) for s, k, v, leaf, h in rows]
    if table == "nodes":
        return [(s, lv, shift_node(lv, ix), hh, h) for s, lv, ix, hh, h in rows]
    if table == "node_history":
        return [(h, s, lv, shift_node(lv, ix), hh, w) for h, s, lv, ix, hh, w in rows]
    return rows


@dataclass
class Capture:
    """The small real ledger's tables before the captured blocks, and the blocks."""

    base: dict[str, list[Row]]
    blocks: list[WriteSet]
    vehicles: int  # in the ledger when the blocks were captured


def capture(folder: Path, base: int, blocks: int, block_txs: int) -> Capture:
    """Grow a real ledger to ``base`` vehicles, record ``blocks`` blocks of each kind."""
    keys = bench_ledger.make_keys()
    ledger = ledger_scale.Ledger(folder, bench_ledger.make_genesis(keys), keys, block_txs=block_txs)
    try:
        ledger.grow(base)
        ledger.checkpoint()
        conn = ledger.db.conn
        dump = {
            t: shift_table(t, [tuple(r) for r in conn.execute(f"SELECT * FROM {t}")])
            for t in TABLES
        }
        sets: list[WriteSet] = []
        current: list[WriteSet | None] = [None]
        kinds = ["register"]
        db = ledger.db
        inner_tx = db.transaction

        @contextmanager
        def recording() -> Iterator[Any]:
            with inner_tx() as c:
                ws = current[0]
                yield c if ws is None else RecordingConnection(c, ws.statements)

        db.transaction = recording  # type: ignore[method-assign]
        state = ledger.app.state
        inner_commit = state.commit

        def commit(overlay: Any, height: int, also: Any = None) -> None:
            ws = WriteSet(kinds[0], len(overlay.writes))
            current[0] = ws
            start, cpu = time.perf_counter(), time.thread_time()
            try:
                inner_commit(overlay, height, also)
            finally:
                current[0] = None
            ws.real_ms = (time.perf_counter() - start) * 1e3
            ws.real_cpu_ms = (time.thread_time() - cpu) * 1e3
            ws.statements = [(sql, shift_statement(sql, rows)) for sql, rows in ws.statements]
            sets.append(ws)

        state.commit = commit  # type: ignore[method-assign]
        rng = random.Random(14)
        for kind in ("register", "rotate"):
            kinds[0] = kind
            n = blocks * block_txs
            if kind == "register":
                txs = ledger.presign_registrations(n)
            else:
                txs = ledger.presign_rotations(n, rng)
            ledger_scale.run_one_core(ledger, txs)
    finally:
        ledger.close()
    for ws in sets:
        ws.txs = sum(len(rows) for sql, rows in ws.statements if "INTO txindex" in sql)
    return Capture(dump, [ws for ws in sets if ws.txs], base)


# --- the synthetic existing state -------------------------------------------------


@dataclass
class StoreShape:
    """How one per-vehicle store's registration rows look."""

    store: str
    per_vehicle: int
    key_len: int  # medians, for the report
    value_len: int
    # (the captured key's type prefix, random bytes after it, the value's length)
    samples: list[tuple[bytes, int, int]]


def compute_shapes(blocks: list[WriteSet]) -> list[StoreShape]:
    """Return the stores a registration writes about one row per vehicle into."""
    regs = [ws for ws in blocks if ws.kind == "register"]
    txs = sum(ws.txs for ws in regs)
    by_store: dict[str, list[tuple[bytes, bytes]]] = {}
    for ws in regs:
        for sql, rows in ws.statements:
            if sql.startswith("INSERT INTO kv "):
                for s, k, v, _, _ in rows:
                    by_store.setdefault(s, []).append((k, v))
    shapes = []
    for store, pairs in sorted(by_store.items()):
        per = round(len(pairs) / txs)
        if per < 1:
            continue
        samples = [(split_key(k), max(1, len(v))) for k, v in pairs]
        shapes.append(
            StoreShape(
                store,
                per,
                int(statistics.median(len(k) for k, _ in pairs)),
                int(statistics.median(len(v) for _, v in pairs)),
                [(prefix, rand, vlen) for (prefix, rand), vlen in samples],
            )
        )
    return shapes


def split_key(key: bytes) -> tuple[bytes, int]:
    """Return a captured key's type prefix and how many bytes after it to randomise
    (its last 16, or all of a short key): synthetic keys land at random places among
    the keys of their type, as hashed and per-vehicle keys do."""
    rand = min(len(key), 16)
    return key[: len(key) - rand], rand


def synthetic_rows(
    shapes: list[StoreShape], vehicles: int, seed: int
) -> Iterator[tuple[str, list[Row]]]:
    """Yield ``(table, rows)`` chunks of N vehicles' rows (the same for the same seed)."""
    rng = random.Random(seed)
    for shape in shapes:
        leaves = vehicles * shape.per_vehicle
        samples = shape.samples
        for start in range(0, leaves, BULK_ROWS):
            end = min(leaves, start + BULK_ROWS)
            rows = []
            for i in range(start, end):
                prefix, rand, vlen = samples[rng.randrange(len(samples))]
                rows.append((shape.store, prefix + rng.randbytes(rand), rng.randbytes(vlen), i, 1))
            yield "kv", rows
        level = 0
        while leaves >> level:
            count = leaves >> level
            for start in range(0, count, BULK_ROWS):
                end = min(count, start + BULK_ROWS)
                yield (
                    "nodes",
                    [(shape.store, level, i, rng.randbytes(32), 1) for i in range(start, end)],
                )
            level += 1
    for start in range(0, vehicles, BULK_ROWS):
        end = min(vehicles, start + BULK_ROWS)
        yield "txindex", [(rng.randbytes(32), 1 + i // 1000, i % 1000) for i in range(start, end)]


def sample_keys(
    shapes: list[StoreShape], vehicles: int, seed: int, n: int
) -> list[tuple[str, bytes]]:
    """Return ``n`` existing (store, key) pairs drawn from the synthetic rows."""
    picked: list[tuple[str, bytes]] = []
    total = sum(s.per_vehicle for s in shapes) * vehicles
    every = max(1, total // n)
    seen = 0
    for table, rows in synthetic_rows(shapes, vehicles, seed):
        if table != "kv":
            continue
        for row in rows:
            if seen % every == 0:
                picked.append((row[0], row[1]))
            seen += 1
    random.Random(seed + 1).shuffle(picked)
    return picked[:n]


# --- the backends -----------------------------------------------------------------


def encode_row(table: str, row: Row) -> tuple[bytes, bytes]:
    """Return a table row's key and value for a key-value store (keys sort as SQLite's)."""
    if table == "kv":
        s, k, v, leaf, h = row
        return s.encode() + b"\0" + k, LEAF_HEIGHT.pack(leaf, h) + v
    if table == "nodes":
        s, lv, ix, hh, h = row
        return s.encode() + b"\0" + NODE_POS.pack(lv, ix), U64.pack(h) + hh
    if table == "meta":
        return row[0].encode(), row[1]
    if table == "kv_history":
        h, s, k, v, w = row
        return U64.pack(h) + s.encode() + b"\0" + k, U64.pack(w) + v
    if table == "node_history":
        h, s, lv, ix, hh, w = row
        return U64.pack(h) + s.encode() + b"\0" + NODE_POS.pack(lv, ix), U64.pack(w) + hh
    if table == "state_versions":
        h, app_hash, roots = row
        return U64.pack(h), app_hash + roots
    if table == "blocks":
        h, bh, header, txs, results = row
        lengths = struct.pack(">III", len(header), len(txs), len(results))
        return U64.pack(h), bh + lengths + header + txs + results
    if table == "txindex":
        th, h, pos = row
        return th, TX_POS.pack(h, pos)
    raise SystemExit(f"unknown table {table}")


class KVTxn:
    """What a block's replay needs from a key-value store's write transaction."""

    def get(self, table: str, key: bytes) -> bytes | None:
        """Return the committed value or ``None``."""
        raise NotImplementedError

    def put(self, table: str, key: bytes, value: bytes) -> None:
        """Write a row."""
        raise NotImplementedError

    def put_new(self, table: str, key: bytes, value: bytes) -> None:
        """Write a row unless the key exists (``INSERT OR IGNORE``)."""
        if self.get(table, key) is None:
            self.put(table, key, value)

    def delete_range(self, table: str, lo: bytes, hi: bytes) -> None:
        """Delete the keys in ``[lo, hi)``."""
        raise NotImplementedError


def replay_kv(txn: KVTxn, statements: list[Statement]) -> None:
    """Do in a key-value store what each captured statement did in SQLite."""
    for sql, rows in statements:
        if sql.startswith("INSERT OR IGNORE INTO kv_history"):
            for h, s, k in rows:
                old = txn.get("kv", s.encode() + b"\0" + k)
                if old is not None:
                    _, written = LEAF_HEIGHT.unpack_from(old)
                    key, value = encode_row("kv_history", (h, s, k, old[16:], written))
                    txn.put_new("kv_history", key, value)
        elif sql.startswith("INSERT OR IGNORE INTO node_history"):
            for h, s, lv, ix in rows:
                old = txn.get("nodes", s.encode() + b"\0" + NODE_POS.pack(lv, ix))
                if old is not None:
                    (written,) = U64.unpack_from(old)
                    key, value = encode_row("node_history", (h, s, lv, ix, old[8:], written))
                    txn.put_new("node_history", key, value)
        elif sql.startswith("DELETE FROM"):
            table = sql.split()[2]
            (limit,) = rows[0]
            end = limit + 1 if "<=" in sql else limit
            txn.delete_range(table, U64.pack(0), U64.pack(end))
        else:
            table, ignore = statement_table(sql)
            write = txn.put_new if ignore else txn.put
            for row in rows:
                key, value = encode_row(table, row)
                write(table, key, value)


def statement_table(sql: str) -> tuple[str, bool]:
    """Return the table an INSERT writes and whether it keeps existing rows."""
    words = sql.split()
    if words[:2] != ["INSERT", "INTO"] and words[:4] not in (
        ["INSERT", "OR", "REPLACE", "INTO"],
        ["INSERT", "OR", "IGNORE", "INTO"],
    ):
        raise SystemExit(f"the commit ran a statement this bench does not know: {sql}")
    table = words[2] if words[1] == "INTO" else words[4]
    if table not in TABLES:
        raise SystemExit(f"the commit wrote a table this bench does not know: {table}")
    return table, words[2] == "IGNORE"


class Backend:
    """One store under test."""

    name = ""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir()

    def load(self, table: str, rows: list[Row]) -> None:
        """Bulk-load rows in one transaction."""
        raise NotImplementedError

    def commit_block(self, ws: WriteSet) -> None:
        """Replay one block as one durable transaction."""
        raise NotImplementedError

    def drain(self) -> None:
        """Write out what the store deferred (checkpoint, memtable flush)."""

    def settle(self) -> None:
        """After the bulk fill: drain and leave no deferred work behind."""
        self.drain()

    def reader(self) -> Callable[[str, bytes], Any]:
        """Return a function reading one kv row's value."""
        raise NotImplementedError

    def disk_bytes(self) -> int:
        """Return the bytes the store's files take on disk."""
        return sum(p.stat().st_blocks * 512 for p in self.folder.rglob("*") if p.is_file())

    def close(self) -> None:
        """Close the store."""


class SQLiteBackend(Backend):
    """carchain's own ``Database``: its schema, PRAGMAs and checkpoint policy."""

    name = "SQLite"

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.db = Database(folder / "state.db")

    def load(self, table: str, rows: list[Row]) -> None:
        marks = ",".join("?" * len(rows[0]))
        with run_transaction(self.db.conn) as conn:
            conn.executemany(f"INSERT OR REPLACE INTO {table} VALUES ({marks})", rows)

    def commit_block(self, ws: WriteSet) -> None:
        with self.db.transaction() as conn:
            for sql, rows in ws.statements:
                if len(rows) == 1:
                    conn.execute(sql, rows[0])
                else:
                    conn.executemany(sql, rows)

    def drain(self) -> None:
        checkpointer = self.db.checkpointer
        if checkpointer is not None and not checkpointer.wait_idle(600):
            raise SystemExit("the background checkpoint did not finish")
        self.db.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()

    def settle(self) -> None:
        # After the bulk fill: an empty WAL, as a node's between checkpoints would be.
        self.drain()
        self.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()

    def reader(self) -> Callable[[str, bytes], Any]:
        execute = self.db.conn.execute
        sql = "SELECT value, leaf FROM kv WHERE store = ? AND key = ?"
        return lambda s, k: execute(sql, (s, k)).fetchone()

    def close(self) -> None:
        self.db.close()


class LMDBTxn(KVTxn):
    """A write transaction of the LMDB environment."""

    def __init__(self, txn: Any, dbs: dict[str, Any]) -> None:
        self.txn = txn
        self.dbs = dbs

    def get(self, table: str, key: bytes) -> bytes | None:
        return self.txn.get(key, db=self.dbs[table])  # type: ignore[no-any-return]

    def put(self, table: str, key: bytes, value: bytes) -> None:
        self.txn.put(key, value, db=self.dbs[table])

    def put_new(self, table: str, key: bytes, value: bytes) -> None:
        self.txn.put(key, value, db=self.dbs[table], overwrite=False)

    def delete_range(self, table: str, lo: bytes, hi: bytes) -> None:
        cursor = self.txn.cursor(db=self.dbs[table])
        if not cursor.set_range(lo):
            return
        while cursor.key() < hi:
            if not cursor.delete():
                break


class LMDBBackend(Backend):
    """LMDB: one environment, a named database per table, a synced commit per block."""

    name = "LMDB"

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.env = lmdb.open(
            str(folder),
            map_size=64 * 2**30,
            max_dbs=len(TABLES),
            sync=True,
            metasync=True,
            writemap=False,
            readahead=False,
        )
        self.dbs = {t: self.env.open_db(t.encode()) for t in TABLES}

    def load(self, table: str, rows: list[Row]) -> None:
        with self.env.begin(write=True) as txn:
            db = self.dbs[table]
            for row in rows:
                key, value = encode_row(table, row)
                txn.put(key, value, db=db)

    def commit_block(self, ws: WriteSet) -> None:
        with self.env.begin(write=True) as txn:
            replay_kv(LMDBTxn(txn, self.dbs), ws.statements)

    def reader(self) -> Callable[[str, bytes], Any]:
        env, db = self.env, self.dbs["kv"]

        def read(s: str, k: bytes) -> Any:
            with env.begin(db=db) as txn:
                return txn.get(s.encode() + b"\0" + k)

        return read

    def close(self) -> None:
        self.env.close()


class RocksTxn(KVTxn):
    """A RocksDB write batch; reads see the committed state."""

    def __init__(self, backend: RocksBackend) -> None:
        self.batch = rocksdict.WriteBatch(raw_mode=True)
        self.backend = backend

    def get(self, table: str, key: bytes) -> bytes | None:
        return self.backend.cfs[table].get(key)  # type: ignore[no-any-return]

    def put(self, table: str, key: bytes, value: bytes) -> None:
        self.batch.put(key, value, self.backend.handles[table])

    def delete_range(self, table: str, lo: bytes, hi: bytes) -> None:
        self.batch.delete_range(lo, hi, self.backend.handles[table])


class RocksBackend(Backend):
    """RocksDB: a column family per table, one synced ``WriteBatch`` per block."""

    name = "RocksDB"

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        opts = rocksdict.Options(raw_mode=True)
        opts.create_if_missing(True)
        opts.create_missing_column_families(True)
        families = {t: rocksdict.Options(raw_mode=True) for t in TABLES}
        self.db = rocksdict.Rdict(str(folder / "db"), opts, column_families=families)
        self.cfs = {t: self.db.get_column_family(t) for t in TABLES}
        self.handles = {t: self.db.get_column_family_handle(t) for t in TABLES}
        self.sync = rocksdict.WriteOptions()
        self.sync.sync = True

    def load(self, table: str, rows: list[Row]) -> None:
        batch = rocksdict.WriteBatch(raw_mode=True)
        handle = self.handles[table]
        for row in rows:
            key, value = encode_row(table, row)
            batch.put(key, value, handle)
        self.db.write(batch, self.sync)

    def commit_block(self, ws: WriteSet) -> None:
        txn = RocksTxn(self)
        replay_kv(txn, ws.statements)
        self.db.write(txn.batch, self.sync)

    def drain(self) -> None:
        for cf in self.cfs.values():
            cf.flush(True)

    def reader(self) -> Callable[[str, bytes], Any]:
        get = self.cfs["kv"].get
        return lambda s, k: get(s.encode() + b"\0" + k)

    def close(self) -> None:
        self.cfs.clear()
        self.db.close()


BACKENDS: tuple[type[Backend], ...] = (SQLiteBackend, LMDBBackend, RocksBackend)


# --- measuring --------------------------------------------------------------------


def read_written_bytes() -> int:
    """Return the bytes this process has passed to write calls (``wchar``)."""
    return ledger_scale.read_written_bytes()


@dataclass
class Figures:
    """One backend's figures for one kind of block at one size."""

    wall_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    wchar: list[int] = field(default_factory=list)
    drained: int = 0  # wchar of the drain after the blocks
    growth: int = 0  # on-disk growth over the blocks, after the drain


@dataclass
class SizeResult:
    """Every backend's figures at one size."""

    vehicles: int
    fill_s: dict[str, float]
    kinds: dict[str, dict[str, Figures]]
    hit_us: dict[str, float]
    miss_us: dict[str, float]
    disk: dict[str, int]


def fill(backend: Backend, cap: Capture, shapes: list[StoreShape], vehicles: int) -> float:
    """Pre-fill one backend with the base ledger and N synthetic vehicles; return seconds."""
    start = time.perf_counter()
    for table, rows in cap.base.items():
        for i in range(0, len(rows), BULK_ROWS):
            backend.load(table, rows[i : i + BULK_ROWS])
    for table, rows in synthetic_rows(shapes, vehicles, vehicles):
        backend.load(table, rows)
    backend.settle()
    return time.perf_counter() - start


def time_block(backend: Backend, ws: WriteSet, figures: Figures) -> None:
    """Commit one block on one backend and record its figures."""
    written = read_written_bytes()
    start, cpu = time.perf_counter(), time.thread_time()
    backend.commit_block(ws)
    figures.wall_ms.append((time.perf_counter() - start) * 1e3)
    figures.cpu_ms.append((time.thread_time() - cpu) * 1e3)
    figures.wchar.append(read_written_bytes() - written)


def time_reads(read: Callable[[str, bytes], Any], keys: list[tuple[str, bytes]]) -> float:
    """Return the mean µs per point read of ``keys``."""
    start = time.perf_counter()
    for s, k in keys:
        read(s, k)
    return (time.perf_counter() - start) * 1e6 / len(keys)


def measure_size(
    folder: Path,
    cap: Capture,
    shapes: list[StoreShape],
    vehicles: int,
    reads: int,
    report: Callable[[str], None],
) -> SizeResult:
    """Fill every backend to ``vehicles``, replay the captured blocks interleaved, read."""
    backends = [cls(folder / f"{cls.name}-{vehicles}") for cls in BACKENDS]
    try:
        fill_s = {}
        for b in backends:
            fill_s[b.name] = fill(b, cap, shapes, vehicles)
            report(f"{vehicles:,} vehicles: {b.name} filled in {fill_s[b.name]:.1f} s")
        kinds: dict[str, dict[str, Figures]] = {}
        for kind in ("register", "rotate"):
            figs = {b.name: Figures() for b in backends}
            before = {b.name: b.disk_bytes() for b in backends}
            blocks = [ws for ws in cap.blocks if ws.kind == kind]
            for i, ws in enumerate(blocks):
                for b in backends[i % 3 :] + backends[: i % 3]:
                    time_block(b, ws, figs[b.name])
            for b in backends:
                written = read_written_bytes()
                b.drain()
                f = figs[b.name]
                f.drained = read_written_bytes() - written
                f.growth = b.disk_bytes() - before[b.name]
            kinds[kind] = figs
        existing = sample_keys(shapes, vehicles, vehicles, reads)
        rng = random.Random(7)
        absent = [(s, shape_key(shapes, s, rng)) for s, _ in existing]
        hit = {b.name: float("inf") for b in backends}
        miss = dict(hit)
        for _ in range(3):  # interleaved, best of three
            for b in backends:
                read = b.reader()
                hit[b.name] = min(hit[b.name], time_reads(read, existing))
                miss[b.name] = min(miss[b.name], time_reads(read, absent))
        disk = {b.name: b.disk_bytes() for b in backends}
    finally:
        for b in backends:
            b.close()
        for b in backends:
            shutil.rmtree(b.folder, ignore_errors=True)
    return SizeResult(vehicles, fill_s, kinds, hit, miss, disk)


def shape_key(shapes: list[StoreShape], store: str, rng: random.Random) -> bytes:
    """Return a random key shaped like ``store``'s (absent with overwhelming odds)."""
    shape = next(s for s in shapes if s.store == store)
    prefix, rand, _ = shape.samples[rng.randrange(len(shape.samples))]
    return prefix + rng.randbytes(rand)


def read_load() -> str:
    """Return ``uptime``'s load averages."""
    out = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout
    return out.strip().split("load average:")[-1].strip()


def print_table(
    console: Console, results: list[SizeResult], cap: Capture, block_txs: int, blocks: int
) -> None:
    """Print one table of every backend at every size."""
    rows_per = {
        kind: statistics.mean(ws.rows() for ws in cap.blocks if ws.kind == kind)
        for kind in ("register", "rotate")
    }
    table = Table(
        title=f"carchain commitment storage engines: blocks of {block_txs:,} txs, {blocks} "
        f"per kind, replayed write sets ({rows_per['register']:,.0f} rows/register block, "
        f"{rows_per['rotate']:,.0f} rows/rotate block)"
    )
    for col in (
        "vehicles",
        "backend",
        "block",
        "commit ms med / max",
        "/ SQLite",
        "CPU ms/block (/ SQLite)",
        "wchar/block",
        "+ drain/block",
        "disk growth/block",
        "read hit / miss µs",
        "db size",
    ):
        table.add_column(col, justify="right")
    mib = 2**20
    for res in results:
        first = True
        for kind in ("register", "rotate"):
            figs = res.kinds[kind]
            base = statistics.median(figs["SQLite"].wall_ms)
            base_cpu = statistics.median(figs["SQLite"].cpu_ms)
            for name, f in figs.items():
                med = statistics.median(f.wall_ms)
                cpu = statistics.median(f.cpu_ms)
                n = len(f.wall_ms)
                table.add_row(
                    f"{res.vehicles:,}" if first else "",
                    name,
                    kind,
                    f"{med:.1f} / {max(f.wall_ms):.1f}",
                    f"{med / base:.2f}",
                    f"{cpu:.1f} ({cpu / base_cpu:.2f})",
                    f"{statistics.median(f.wchar) / mib:.2f} MiB",
                    f"{(sum(f.wchar) + f.drained) / n / mib:.2f} MiB",
                    f"{f.growth / n / mib:.2f} MiB",
                    f"{res.hit_us[name]:.1f} / {res.miss_us[name]:.1f}"
                    if kind == "register"
                    else "",
                    f"{res.disk[name] / mib:,.0f} MiB" if kind == "register" else "",
                    end_section=kind == "rotate" and name == "RocksDB",
                )
                first = False
    console.print(table)
    for kind in ("register", "rotate"):
        sets = [ws for ws in cap.blocks if ws.kind == kind]
        console.print(
            f"the real StateStore.commit when captured ({kind}, {len(sets)} blocks on a ledger "
            f"of {cap.vehicles:,} vehicles, recording included): "
            f"{statistics.median(ws.real_ms for ws in sets):.1f} ms wall, "
            f"{statistics.median(ws.real_cpu_ms for ws in sets):.1f} ms CPU per block (median)"
        )


def main(argv: Sequence[str] | None = None) -> list[SizeResult]:
    """Capture, fill, replay, print one table; return the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vehicles", default="1e4,1e5", help="existing vehicle counts")
    parser.add_argument("--blocks", type=int, default=5, help="measured blocks per kind")
    parser.add_argument("--block-txs", type=int, default=1_000, help="transactions per block")
    parser.add_argument("--base", type=int, default=10_000, help="vehicles in the captured ledger")
    parser.add_argument("--reads", type=int, default=10_000, help="point reads per measure")
    args = parser.parse_args(argv)
    sizes = [int(float(v)) for v in args.vehicles.split(",")]
    console = Console(width=160)
    load_before = read_load()
    results = []
    with tempfile.TemporaryDirectory(prefix="carchain-kvb-") as tmp:
        folder = Path(tmp)
        (folder / "ledger").mkdir()
        cap = capture(folder / "ledger", args.base, args.blocks, args.block_txs)
        shapes = compute_shapes(cap.blocks)
        console.print(
            "per-vehicle stores: "
            + ", ".join(
                f"{s.store} x{s.per_vehicle} ({s.key_len} B keys, {s.value_len} B values)"
                for s in shapes
            ),
            style="dim",
        )
        for size in sizes:
            results.append(
                measure_size(
                    folder, cap, shapes, size, args.reads, lambda m: console.print(m, style="dim")
                )
            )
    print_table(console, results, cap, args.block_txs, args.blocks)
    console.print(
        f"machine: {os.cpu_count()} cpus, python {sys.version.split()[0]}, "
        f"sqlite {__import__('sqlite3').sqlite_version}, lmdb {lmdb.__version__} "
        f"(liblmdb {'.'.join(map(str, lmdb.version()))}), rocksdict {rocksdict_version()}, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"load before {load_before}, after {read_load()}"
    )
    return results


def rocksdict_version() -> str:
    """Return the installed rocksdict's version."""
    from importlib.metadata import version

    return version("rocksdict")


if __name__ == "__main__":
    main()
