"""The node backend of a CometBFT network node: submit through CometBFT's RPC,
read state from the local application.

It runs in the application process, on the event loop that also serves ABCI.
Submissions go to this node's CometBFT (``broadcast_tx_sync``): CometBFT runs
CheckTx on our mempool connection and gossips the transaction. Waiting for the
commit needs no polling of CometBFT: the block is executed and committed right
here, so the commit listener of the ABCI adapter resolves the waiters.

Reads from API worker threads are run on the event loop, between ABCI
requests, so they never see a half-committed block.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from carchain.core.transactions import compute_tx_hash
from carchain.core.types import TxResult
from carchain.engine.abci.adapter import AbciAdapter
from carchain.engine.abci.blocklog import DecidedBlock
from carchain.engine.application import CheckTxResult, QueryResult
from carchain.errors import CarchainError, StorageCorrupted, decode_fields_json
from carchain.network.rpc import CometRpc
from carchain.node.backend import (
    BlockView,
    HeaderView,
    NodeStatus,
    Readiness,
    SubmitMode,
    SubmitResult,
    TxStatus,
    compute_header_view,
    compute_tx_status,
)
from carchain.node.commit_signal import CommitSignal
from carchain.storage.blocks import compute_tx_root
from carchain.telemetry.chain import ChainMetrics

T = TypeVar("T")
Landing = tuple[int, int, TxResult]
PROOF_HEADER_WAIT_S = 5.0
# CometBFT's ``unconfirmed_txs`` returns at most 100 transactions and has no paging.
UNCONFIRMED_LIMIT = 100
RECONCILE_INTERVAL_S = 5.0
# A transaction CheckTx just accepted may not be in CometBFT's list yet.
RECONCILE_GRACE_S = 2.0
# Ready when within this many blocks of CometBFT (it reports a block before we commit it).
READY_MAX_LAG = 1
log = logging.getLogger("carchain.network")


class CometBackend:
    """``NodeBackend`` for a node whose blocks CometBFT decides."""

    def __init__(self, adapter: AbciAdapter, rpc: CometRpc) -> None:
        self.adapter = adapter
        self.app = adapter.app
        self.rpc = rpc
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._waiters: dict[bytes, list[asyncio.Future[Landing]]] = {}
        self._committed = threading.Condition()
        self._commit_signal = CommitSignal()
        adapter.add_commit_listener(self._on_commit)

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Run reads on ``loop`` (the one serving ABCI); call from that loop's thread."""
        self._loop = loop
        self._loop_thread = threading.get_ident()

    def _on_loop(self, fn: Callable[[], T]) -> T:
        loop = self._loop
        if loop is None or threading.get_ident() == self._loop_thread:
            return fn()

        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), loop).result(30)

    def _on_commit(self, block: DecidedBlock, tx_hashes: list[bytes]) -> None:
        for i, h in enumerate(tx_hashes):
            for fut in self._waiters.pop(h, []):
                if not fut.done():
                    fut.set_result((block.height, i, block.results[i]))
        with self._committed:
            self._committed.notify_all()
        self._commit_signal.notify()

    async def validate_consensus_agreement(self, timeout_s: float = 60.0) -> None:
        """Raise ``StorageCorrupted`` if CometBFT's latest header disagrees with our state.

        CometBFT's latest header ``H`` carries the app hash after block ``H-1``;
        ours is in the block record of ``H`` (or is the current state if block
        ``H`` is not executed here yet). CometBFT's handshake already refuses a
        mismatch at start-up; this is the application's own check of the same
        fact once the RPC answers (it gives up quietly if it never does).
        """
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                st = await self.rpc.call("status", {})
                break
            except CarchainError:
                if time.monotonic() >= deadline:
                    return
                await asyncio.sleep(0.5)
        info = st["sync_info"]
        height = int(info["latest_block_height"])
        comet_hash = bytes.fromhex(str(info["latest_app_hash"]))
        ours = self.adapter.get_header_app_hash(height)
        if ours is None and height and self.app.get_height() == height - 1:
            ours = self.app.get_app_hash()
        if ours is not None and ours != comet_hash:
            raise StorageCorrupted(
                "CometBFT's header carries another app hash than this state had",
                height=height,
                app=ours,
                comet=comet_hash,
            )

    async def reconcile_pending(self) -> int:
        """Drop pending transactions that CometBFT's mempool no longer holds; return how many.

        The application's ``pending`` set only learns of CheckTx and Commit;
        CometBFT can also lose transactions (a restart, an eviction). When its
        whole mempool fits in one ``unconfirmed_txs`` answer, every pending
        transaction older than the grace period and absent from it is gone.
        """
        if not self.adapter.pending:
            return 0
        since = self.adapter.clock() - RECONCILE_GRACE_S
        res = await self.rpc.call("unconfirmed_txs", {"limit": str(UNCONFIRMED_LIMIT)})
        txs = res.get("txs") or []
        if int(res.get("total", len(txs))) > len(txs):
            return 0  # cannot see the whole mempool
        in_mempool = {compute_tx_hash(base64.b64decode(t)) for t in txs}
        return self.adapter.drop_pending_missing(in_mempool, since)

    async def run_pending_reconciler(self, interval_s: float = RECONCILE_INTERVAL_S) -> None:
        """Reconcile ``pending`` with CometBFT's mempool every ``interval_s``, until cancelled."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                dropped = await self.reconcile_pending()
            except CarchainError as exc:
                log.debug("cannot read CometBFT's mempool: %s", exc.message)
                continue
            if dropped:
                log.info("dropped %d pending transactions CometBFT no longer holds", dropped)

    @property
    def chain_id(self) -> str:
        """Return the chain id."""
        return self.app.chain_id

    @property
    def metrics(self) -> ChainMetrics:
        """Return the chain metrics the application records."""
        return self.app.metrics

    async def check_readiness(self) -> Readiness:
        """Ready when CometBFT's RPC answers, it is not catching up, and this
        application is within ``READY_MAX_LAG`` blocks of CometBFT's latest block."""
        height = self.app.get_height()
        try:
            st = await self.rpc.call("status", {})
            info = st["sync_info"]
            comet_height = int(info["latest_block_height"])
            catching_up = bool(info["catching_up"])
        except (CarchainError, KeyError, TypeError, ValueError) as exc:
            log.debug("readiness: CometBFT status unavailable: %r", exc)
            return Readiness(height, 0, ("consensus unreachable",))
        reasons: list[str] = []
        if catching_up:
            reasons.append("consensus catching up")
        if comet_height - height > READY_MAX_LAG:
            reasons.append("application behind consensus")
        return Readiness(height, comet_height, tuple(reasons))

    def status(self) -> NodeStatus:
        """Return the application's committed height and app hash."""

        def read() -> NodeStatus:
            block = self.adapter.get_block(self.app.get_height())
            return NodeStatus(
                chain_id=self.chain_id,
                engine="cometbft",
                height=self.app.get_height(),
                app_hash=self.app.get_app_hash(),
                mempool_size=len(self.adapter.pending),
                latest_block_time_ms=block.time_ms if block else 0,
            )

        return self._on_loop(read)

    async def submit(self, raw: bytes, mode: SubmitMode, timeout_s: float) -> SubmitResult:
        """Broadcast through CometBFT; in commit mode wait (up to ``timeout_s``) for the block."""
        tx_hash = compute_tx_hash(raw)
        fut: asyncio.Future[Landing] | None = None
        if mode == "commit":
            fut = asyncio.get_running_loop().create_future()
            self._waiters.setdefault(tx_hash, []).append(fut)
        try:
            try:
                res = await self.rpc.broadcast_tx_sync(raw)
            except CarchainError as exc:
                return SubmitResult(CheckTxResult.from_error(exc, tx_hash))
            check = CheckTxResult(
                int(res.get("code", 0)),
                str(res.get("codespace", "")),
                str(res.get("log", "")),
                tx_hash,
                fields=decode_check_fields(res),
            )
            if fut is None or not check.ok:
                return SubmitResult(check)
            try:
                height, index, result = await asyncio.wait_for(asyncio.shield(fut), timeout_s)
            except TimeoutError:
                return SubmitResult(check)
            return SubmitResult(check, height, index, result)
        finally:
            if fut is not None:
                waiting = self._waiters.get(tx_hash, [])
                if fut in waiting:
                    waiting.remove(fut)
                if not waiting:
                    self._waiters.pop(tx_hash, None)

    async def submit_batch(self, raws: list[bytes]) -> list[SubmitResult]:
        """Broadcast ``raws`` one after the other (CometBFT checks each); one verdict each."""
        return [await self.submit(raw, "sync", 0.0) for raw in raws]

    async def wait_for_height(self, height: int, timeout_s: float) -> int:
        """Return the committed height once it reaches ``height`` (or after ``timeout_s``):
        the commit listener wakes the waiters, no polling of CometBFT."""
        return await self._commit_signal.wait_for_height(height, self.app.get_height, timeout_s)

    def get_tx(self, tx_hash: bytes) -> TxStatus:
        """Return where a transaction is: committed here, pending in our mempool, or unknown."""

        def read() -> TxStatus:
            loc = self.adapter.get_tx_location(tx_hash)
            block = None if loc is None else self.adapter.get_block(loc[0])
            return compute_tx_status(tx_hash, loc, block, tx_hash in self.adapter.pending)

        return self._on_loop(read)

    def get_block_optional(self, height: int) -> BlockView | None:
        """Return the block as CometBFT's header has it: ``app_hash`` is the state before it."""

        def read() -> BlockView | None:
            b = self.adapter.get_block(height)
            if b is None:
                return None
            prev = self.adapter.get_block(height - 1) if height > 1 else None
            return BlockView(
                height=b.height,
                hash=b.hash,
                time_ms=b.time_ms,
                prev_hash=prev.hash if prev else b"",
                tx_root=compute_tx_root(b.txs),
                app_hash=b.header_app_hash,
                proposer=b.proposer,
                txs=b.txs,
                results=b.results,
            )

        return self._on_loop(read)

    def get_header_optional(self, height: int) -> HeaderView | None:
        """Return the header fields ``get_block_optional`` gives (the tx root is computed
        from the transactions, which the block log keeps in one record with the block)."""
        block = self.get_block_optional(height)
        return None if block is None else compute_header_view(block)

    def query(self, store: str, key: bytes, prove: bool, height: int = 0) -> QueryResult:
        """Read committed state at ``height`` (0: latest)."""
        return self._on_loop(lambda: self.app.query(store, key, prove, height))

    def get_proof_app_hash_optional(self, height: int) -> tuple[int, bytes] | None:
        """Return header ``height + 1`` and its app hash: CometBFT's header ``H+1``
        carries the app hash after block ``H``. Waits briefly for that block.
        """

        def read() -> bytes | None:
            return self.adapter.get_header_app_hash(height + 1)

        app_hash = self._on_loop(read)
        if self._loop_thread != threading.get_ident():
            deadline = time.monotonic() + PROOF_HEADER_WAIT_S
            while app_hash is None and time.monotonic() < deadline:
                with self._committed:
                    self._committed.wait(0.1)
                app_hash = self._on_loop(read)
        return None if app_hash is None else (height + 1, app_hash)

    def iterate(
        self, store: str, prefix: bytes, limit: int, after: bytes
    ) -> Iterator[tuple[bytes, bytes]]:
        """Yield committed pairs by prefix."""
        return iter(self._on_loop(lambda: list(self.app.iterate(store, prefix, limit, after))))


def decode_check_fields(res: dict[str, Any]) -> dict[str, object]:
    """Return the error fields a CheckTx answer carries in ``data`` (hex JSON; ``{}`` if none)."""
    try:
        return decode_fields_json(bytes.fromhex(str(res.get("data") or "")))
    except ValueError:
        return {}
