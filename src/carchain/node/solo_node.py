"""The embedded node: solo engine, block loop and the API backend in one process."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator

from carchain.engine.application import Application, CheckTxResult, QueryResult
from carchain.engine.solo import SoloConfig, SoloEngine
from carchain.node.backend import (
    BlockView,
    HeaderView,
    NodeStatus,
    Readiness,
    SubmitMode,
    SubmitResult,
    TxStatus,
    compute_tx_status,
)
from carchain.node.commit_signal import CommitSignal
from carchain.storage.blocks import Block, compute_block_hash
from carchain.storage.database import Database
from carchain.storage.history import DEFAULT_STATE_VERSIONS
from carchain.telemetry.chain import ChainMetrics


class SoloNode:
    """Runs the solo engine on the asyncio loop: a block every interval or when full.

    The API serves its synchronous routes from worker threads, and they share the
    node's one SQLite connection: ``_commit_lock`` keeps their reads out of a
    block's commit, where they would see uncommitted rows (a transaction reported
    committed before it is durable) beside the previous app hash.
    """

    def __init__(
        self,
        db: Database,
        block_interval_s: float = 0.2,
        config: SoloConfig | None = None,
        state_versions: int = DEFAULT_STATE_VERSIONS,
    ) -> None:
        self.app = Application(db, state_versions)
        self.engine = SoloEngine(self.app, config)
        self.block_interval_s = block_interval_s
        self.clock: Callable[[], float] = time.time  # block time, s (a simulation may shift it)
        self._waiters: dict[bytes, list[tuple[asyncio.Future[SubmitResult], CheckTxResult]]] = {}
        self._wake: asyncio.Event | None = None
        self._stopping = False
        self._running = False
        self._commit_lock = threading.RLock()  # re-entrant: commit listeners may read
        self._commit_signal = CommitSignal()
        self.engine.add_commit_listener(self._on_commit)

    @property
    def chain_id(self) -> str:
        """Return the chain id."""
        return self.app.chain_id

    # --- block loop ----------------------------------------------------------------

    async def run(self) -> None:
        """Produce blocks until ``stop`` is called."""
        self._wake = asyncio.Event()
        self._running = True
        try:
            while not self._stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.block_interval_s)
                self._wake.clear()
                self.produce_block()
        finally:
            self._running = False

    def produce_block(self) -> Block | None:
        """Make one block now if the mempool has transactions."""
        with self._commit_lock:
            return self.engine.produce_block(int(self.clock() * 1000))

    def stop(self) -> None:
        """Ask the block loop to end after the current block."""
        self._stopping = True
        if self._wake is not None:
            self._wake.set()

    def _on_commit(self, block: Block, tx_hashes: list[bytes]) -> None:
        for i, h in enumerate(tx_hashes):
            for fut, check in self._waiters.pop(h, []):
                if not fut.done():
                    fut.set_result(SubmitResult(check, block.header.height, i, block.results[i]))
        self._commit_signal.notify()

    # --- backend ---------------------------------------------------------------------

    @property
    def metrics(self) -> ChainMetrics:
        """Return the chain metrics the application records."""
        return self.app.metrics

    async def check_readiness(self) -> Readiness:
        """Solo consensus is the block loop in this process: ready while it runs."""
        height = self.engine.height
        reasons = () if self._running and not self._stopping else ("block loop not running",)
        return Readiness(height, height, reasons)

    def status(self) -> NodeStatus:
        """Return the node's status."""
        with self._commit_lock:
            header = self.engine.get_header(self.engine.height)
            return NodeStatus(
                chain_id=self.chain_id,
                engine="solo",
                height=self.engine.height,
                app_hash=self.app.get_app_hash(),
                mempool_size=len(self.engine.mempool),
                latest_block_time_ms=header.time_ms if header else 0,
            )

    async def submit(self, raw: bytes, mode: SubmitMode, timeout_s: float) -> SubmitResult:
        """Check ``raw``; in commit mode wait for its block (up to ``timeout_s``)."""
        check = self.engine.submit(raw)
        if not check.ok or mode == "sync":
            return SubmitResult(check)
        fut: asyncio.Future[SubmitResult] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(check.tx_hash, []).append((fut, check))
        if len(self.engine.mempool) >= self.engine.config.max_block_txs and self._wake:
            self._wake.set()
        try:
            return await asyncio.wait_for(fut, timeout_s)
        except TimeoutError:
            waiting = self._waiters.get(check.tx_hash, [])
            waiting[:] = [w for w in waiting if w[0] is not fut]
            if not waiting:
                self._waiters.pop(check.tx_hash, None)
            return SubmitResult(check)

    async def submit_batch(self, raws: list[bytes]) -> list[SubmitResult]:
        """Check ``raws`` in order (sync mode): their signatures are verified on the
        engine's worker process while the loop goes on (a block may be produced
        meanwhile), then they are admitted one after the other, none in between."""
        batch = self.engine.start_checks(raws)
        if batch.chunks:
            await asyncio.wait([asyncio.wrap_future(chunk) for chunk in batch.chunks])
        return [SubmitResult(check) for check in self.engine.submit_many(raws, batch)]

    async def wait_for_height(self, height: int, timeout_s: float) -> int:
        """Return the committed height once it reaches ``height`` (or after ``timeout_s``)."""
        return await self._commit_signal.wait_for_height(
            height, lambda: self.engine.height, timeout_s
        )

    def get_tx(self, tx_hash: bytes) -> TxStatus:
        """Return where a transaction is."""
        with self._commit_lock:
            loc = self.engine.get_tx_location(tx_hash)
            block = None if loc is None else self.engine.get_block(loc[0])
        return compute_tx_status(tx_hash, loc, block, tx_hash in self.engine.mempool)

    def get_block_optional(self, height: int) -> BlockView | None:
        """Return the committed block at ``height``."""
        with self._commit_lock:
            block = self.engine.get_block(height)
        if block is None:
            return None
        h = block.header
        return BlockView(
            height=h.height,
            hash=compute_block_hash(h),
            time_ms=h.time_ms,
            prev_hash=h.prev_hash,
            tx_root=h.tx_root,
            app_hash=h.app_hash,
            proposer=h.proposer,
            txs=block.txs,
            results=block.results,
        )

    def get_header_optional(self, height: int) -> HeaderView | None:
        """Return the committed header at ``height``: the block store reads the header and
        the transaction count only, never the transactions."""
        with self._commit_lock:
            found = self.engine.get_header_and_tx_count(height)
        if found is None:
            return None
        h, tx_count = found
        return HeaderView(
            height=h.height,
            hash=compute_block_hash(h),
            time_ms=h.time_ms,
            prev_hash=h.prev_hash,
            tx_root=h.tx_root,
            app_hash=h.app_hash,
            proposer=h.proposer,
            tx_count=tx_count,
            results_hash=h.results_hash,
        )

    def query(self, store: str, key: bytes, prove: bool, height: int = 0) -> QueryResult:
        """Read committed state at ``height`` (0: latest)."""
        with self._commit_lock:
            return self.app.query(store, key, prove, height)

    def get_proof_app_hash_optional(self, height: int) -> tuple[int, bytes] | None:
        """Solo headers carry the post-execution app hash: state ``h`` is in header ``h``."""
        with self._commit_lock:
            header = self.engine.get_header(height)
        return None if header is None else (height, header.app_hash)

    def iterate(
        self, store: str, prefix: bytes, limit: int, after: bytes
    ) -> Iterator[tuple[bytes, bytes]]:
        """Yield committed pairs by prefix (read at once, inside the lock)."""
        with self._commit_lock:
            return iter(list(self.app.iterate(store, prefix, limit, after)))
