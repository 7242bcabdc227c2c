"""The ledger at scale: committed tx/s with 10^4 .. 10^6 vehicles already registered.

Used by ``bench_ledger.py --vehicles``. One database grows through the sizes in
one run: the vehicles up to each size are registered in bulk through the real
commit path (the core's ``process_block`` on a ``BlockOverlay``, committed with
its block by ``StateStore.commit``: the real state, commitment, history and block
layout; only the signature check is skipped, the envelopes carry a dummy
signature), then at each size it measures, in blocks of 1,000 pre-signed
transactions through the solo engine (check_tx, finalize, commit with fsync):

- ``vehicle.register`` of new vehicles, on one core and with the signatures on
  the engine's two-thread pool;
- ``vehicle.rotate_key`` of vehicles drawn at random from the existing ones
  (the OEM's signature and the owner's consent: two verifies per transaction);

``--compare`` grows a second ledger beside it with the storage policies from
before issue 14 (``legacy``: SQLite's automatic checkpoint inside the commit,
caches cleared all at once when full) and measures the two alternately at each
size, so the before/after ratios come from the same minutes of a shared machine.

with, per block, the commit's wall time (``StateStore.commit``) and the bytes the
process wrote (``/proc/self/io`` ``wchar``: WAL frames and checkpoints alike; the
WAL is drained by a checkpoint after each measure and that counts too).
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from carchain.core import block as core_block
from carchain.core.genesis import Genesis
from carchain.core.transactions import TX_VERSION, Envelope, encode
from carchain.core.types import BlockContext
from carchain.core.vehicles import RegisterVehicle, RotateVehicleKey
from carchain.crypto.signing import SigningKey
from carchain.engine.application import Application
from carchain.engine.solo import SoloConfig, SoloEngine
from carchain.sdk.transactions import build_tx, compute_tx_type, sign_rotation_consent
from carchain.storage import statestore
from carchain.storage.blocks import Block, build_header
from carchain.storage.database import Database

BLOCK_TXS = 1_000
BULK_BLOCK_TXS = 10_000
OWNER = SigningKey.from_seed(b"\x01" * 32)
K = TypeVar("K")
V = TypeVar("V")


class ClearAllCache(Generic[K, V]):
    """The caches' policy before issue 14: one dict, cleared whole when full."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.entries: dict[K, V] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, key: K) -> V | None:
        """Return the cached value or ``None``."""
        return self.entries.get(key)

    def put(self, key: K, value: V) -> None:
        """Cache one entry, clearing everything first if full."""
        if len(self.entries) >= self.limit:
            self.entries.clear()
        self.entries[key] = value

    def update(self, items: Any) -> None:
        """Cache many (the old commit cleared first if they would not fit)."""
        pairs = list(items)
        if len(self.entries) + len(pairs) >= self.limit:
            self.entries.clear()
        self.entries.update(pairs)


@dataclass
class Measure:
    """One measured kind of transaction at one size."""

    rate: float  # committed tx/s
    commit_ms: float  # StateStore.commit per block, wall time
    bytes_per_block: float  # written by the process per block
    cpu_us: float  # the main thread's CPU per transaction (less sensitive to load)


class Ledger:
    """The growing benchmark ledger: one database, its engine, the nonces used."""

    def __init__(
        self,
        folder: Path,
        genesis: Genesis,
        keys: dict[str, SigningKey],
        legacy: bool = False,
        page_size: int = 4096,
        block_txs: int = BLOCK_TXS,
    ) -> None:
        self.keys = keys
        self.oems = list(keys)
        self.chain_id = genesis.chain_id
        self.folder = folder
        self.legacy = legacy
        self.layout = "before" if legacy else f"after {page_size // 1024}K"
        self.db = Database(
            folder / "state.db", checkpoint_commits=0 if legacy else 32, page_size=page_size
        )
        self.app = Application(self.db)
        if legacy:
            state: Any = self.app.state
            state._nodes = ClearAllCache(statestore._NODE_CACHE_LIMIT)
            state._values = ClearAllCache(statestore._VALUE_CACHE_LIMIT)
        self.app.init_chain(genesis)
        self.block_txs = block_txs
        self.engine = SoloEngine(self.app, SoloConfig(max_block_txs=block_txs))
        self.nonces = dict.fromkeys(keys, 0)
        self.vehicles = 0  # registered so far, numbered 0 .. vehicles - 1
        self.rotated: set[int] = set()
        self.commit_seconds = 0.0
        self._wrap_commit()

    def _wrap_commit(self) -> None:
        state = self.app.state
        inner = state.commit

        def timed(*args: Any, **kwargs: Any) -> None:
            start = time.perf_counter()
            inner(*args, **kwargs)
            self.commit_seconds += time.perf_counter() - start

        state.commit = timed  # type: ignore[method-assign]

    def next_nonce(self, oem: str) -> int:
        """Return the OEM's next nonce and use it."""
        self.nonces[oem] += 1
        return self.nonces[oem]

    def register_body(self, i: int) -> tuple[str, RegisterVehicle]:
        """Return vehicle ``i``'s OEM and registration body."""
        oem = self.oems[i % len(self.oems)]
        return oem, RegisterVehicle(
            vehicle_id=f"{oem}:{i:07d}",
            vin_commitment=hashlib.sha256(b"vin%d" % i).digest(),
            public_key=hashlib.sha256(b"vehicle-key%d" % i).digest(),
            model="Roewe RX5",
            year=2024,
            owner=OWNER.public_key,
        )

    def grow(self, target: int) -> float:
        """Register vehicles in bulk up to ``target``; return the seconds it took."""
        start = time.perf_counter()
        while self.vehicles < target:
            n = min(BULK_BLOCK_TXS, target - self.vehicles)
            envs = []
            for i in range(self.vehicles, self.vehicles + n):
                oem, body = self.register_body(i)
                signer = self.keys[oem].public_key
                envs.append(
                    Envelope(
                        TX_VERSION,
                        self.chain_id,
                        signer,
                        self.next_nonce(oem),
                        compute_tx_type(body),
                        encode(body),
                        b"\x00" * 64,
                    )
                )
            self._commit_bulk(envs)
            self.vehicles += n
        return time.perf_counter() - start

    def _commit_bulk(self, envs: list[Envelope]) -> None:
        engine, app = self.engine, self.app
        txs = [encode(e) for e in envs]
        prev = engine.blocks.get_header(engine.height) if engine.height else None
        time_ms = prev.time_ms + 1 if prev else 1
        ctx = BlockContext(self.chain_id, engine.height + 1, time_ms, engine.config.proposer)
        overlay = app.state.begin_block()
        result = core_block.process_block(overlay, ctx, envs)
        if any(r.code != 0 for r in result.tx_results):
            raise SystemExit("a bulk registration failed")
        header = build_header(ctx, prev, txs, result.tx_results, overlay.compute_app_hash())
        hashes = [hashlib.sha256(t).digest() for t in txs]
        staged = engine.blocks.stage_block(Block(header, txs, result.tx_results), hashes)
        app.state.commit(overlay, ctx.height, [staged])
        app.reset_check_state()

    def presign_registrations(self, n: int) -> list[bytes]:
        """Return ``n`` signed registrations of the next new vehicles."""
        txs = []
        for i in range(self.vehicles, self.vehicles + n):
            oem, body = self.register_body(i)
            txs.append(build_tx(self.chain_id, self.keys[oem], self.next_nonce(oem), body))
        self.vehicles += n
        return txs

    def presign_rotations(self, n: int, rng: random.Random) -> list[bytes]:
        """Return ``n`` signed key rotations of distinct existing vehicles, drawn at random."""
        txs = []
        while len(txs) < n:
            i = rng.randrange(self.vehicles)
            if i in self.rotated:
                continue
            self.rotated.add(i)
            oem = self.oems[i % len(self.oems)]
            vid = f"{oem}:{i:07d}"
            new_key = hashlib.sha256(b"rotated-key%d" % i).digest()
            consent = sign_rotation_consent(self.chain_id, OWNER, vid, new_key, 2, 0)
            body = RotateVehicleKey(vid, new_key, consent)
            txs.append(build_tx(self.chain_id, self.keys[oem], self.next_nonce(oem), body))
        return txs

    def checkpoint(self) -> None:
        """Drain the WAL into the database file (what a later checkpoint would write),
        after the background checkpoint under way, if any."""
        if self.db.checkpointer is not None and not self.db.checkpointer.wait_idle(600):
            raise SystemExit("the background checkpoint did not finish")
        self.db.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()

    def close(self) -> None:
        """Stop the pool and close the database."""
        self.app.close_stateless_pool()
        self.db.close()


def read_written_bytes() -> int:
    """Return the bytes this process has passed to write calls (``wchar``)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    return 0


def measure(ledger: Ledger, txs: list[bytes], run: Callable[[Ledger, list[bytes]], int]) -> Measure:
    """Commit ``txs`` with ``run`` (which returns the blocks), drain the WAL; return the figures."""
    ledger.commit_seconds = 0.0
    written = read_written_bytes()
    start, cpu = time.perf_counter(), time.thread_time()
    blocks = run(ledger, txs)
    elapsed, cpu = time.perf_counter() - start, time.thread_time() - cpu
    ledger.checkpoint()
    written = read_written_bytes() - written
    return Measure(
        len(txs) / elapsed,
        ledger.commit_seconds * 1e3 / blocks,
        written / blocks,
        cpu * 1e6 / len(txs),
    )


def run_one_core(ledger: Ledger, txs: list[bytes]) -> int:
    """Submit each transaction, produce blocks until the mempool is empty; return blocks."""
    engine = ledger.engine
    for raw in txs:
        res = engine.submit(raw)
        if not res.ok:
            raise SystemExit(f"check_tx refused a benchmark tx: {res.error_code} {res.log}")
    return _produce_all(engine, len(txs))


def run_pooled(ledger: Ledger, txs: list[bytes]) -> int:
    """As ``run_one_core``, the signatures checked in the engine's worker process a batch
    ahead (the worker started before the clock)."""
    ledger.engine.app.warm_stateless_pool()
    return _run_pooled(ledger.engine, txs, ledger.block_txs)


def _run_pooled(engine: SoloEngine, txs: list[bytes], block_txs: int) -> int:
    batches = [txs[i : i + block_txs] for i in range(0, len(txs), block_txs)]
    started = [engine.start_checks(batches[0])]
    ok = blocks = 0
    for k, raws in enumerate(batches):
        if k + 1 < len(batches):
            started.append(engine.start_checks(batches[k + 1]))
        if not all(r.ok for r in engine.submit_many(raws, started[k])):
            raise SystemExit("check_tx refused a benchmark tx")
        ok += _count_ok(engine.produce_block(engine.height + 1))
        blocks += 1
    if ok != len(txs):
        raise SystemExit(f"only {ok} of {len(txs)} transactions succeeded")
    return blocks


def _produce_all(engine: SoloEngine, expected: int) -> int:
    blocks = ok = 0
    while (block := engine.produce_block(engine.height + 1)) is not None:
        blocks += 1
        ok += _count_ok(block)
    if ok != expected:
        raise SystemExit(f"only {ok} of {expected} transactions succeeded")
    return blocks


def _count_ok(block: Block | None) -> int:
    return 0 if block is None else sum(1 for r in block.results if r.code == 0)


@dataclass
class SizeRow:
    """The figures of one ledger at one size."""

    vehicles: int
    layout: str
    grow_seconds: float
    register: Measure
    pooled: Measure
    rotate: Measure
    db_bytes: int


def run_sizes(
    folder: Path,
    genesis: Genesis,
    keys: dict[str, SigningKey],
    sizes: Sequence[int],
    blocks: int,
    report: Callable[[str], None],
    compare: bool = False,
    block_txs: int = BLOCK_TXS,
) -> list[SizeRow]:
    """Grow the ledger(s) through ``sizes`` and measure at each; return the rows."""
    ledgers = []
    layouts = [(True, 4096), (False, 4096), (False, 1024)] if compare else [(False, 4096)]
    for k, (legacy, page_size) in enumerate(layouts):
        sub = folder / f"ledger{k}"
        sub.mkdir()
        ledgers.append(Ledger(sub, genesis, keys, legacy, page_size, block_txs))
    rngs = [random.Random(14) for _ in ledgers]
    rows = []
    try:
        for size in sizes:
            grown = [ledger.grow(size) for ledger in ledgers]
            for ledger in ledgers:  # the bulk's WAL is not the measured blocks' writes
                ledger.checkpoint()
            report(f"{size:,} vehicles built in {' / '.join(f'{g:.0f}' for g in grown)} s")
            figures = [[] for _ in ledgers]
            # Alternate the ledgers measure by measure: the same minutes for both.
            for kind in ("register", "pooled", "rotate"):
                for k, ledger in enumerate(ledgers):
                    figures[k].append(measure_kind(ledger, kind, blocks, rngs[k]))
            for k, ledger in enumerate(ledgers):
                reg, pooled, rot = figures[k]
                rows.append(
                    SizeRow(
                        size,
                        ledger.layout,
                        grown[k],
                        reg,
                        pooled,
                        rot,
                        sum(p.stat().st_size for p in ledger.folder.iterdir()),
                    )
                )
                report(
                    f"{size:,} {rows[-1].layout}: register {reg.rate:,.0f} tx/s, "
                    f"pooled {pooled.rate:,.0f}, rotate {rot.rate:,.0f}"
                )
    finally:
        for ledger in ledgers:
            ledger.close()
    return rows


def measure_kind(ledger: Ledger, kind: str, blocks: int, rng: random.Random) -> Measure:
    """Measure ``blocks`` blocks of one kind: register, pooled (register on the pool), rotate."""
    n = blocks * ledger.block_txs
    if kind == "rotate":
        return measure(ledger, ledger.presign_rotations(n, rng), run_one_core)
    run = run_pooled if kind == "pooled" else run_one_core
    return measure(ledger, ledger.presign_registrations(n), run)
