"""The solo engine: one process orders, executes and commits blocks itself.

It drives the same ``Application`` interface as the ABCI server. Each block's
state and the block itself are written in one SQLite transaction, block last,
so a crash at any point leaves the node at its last committed block.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from carchain.core.transactions import compute_tx_hash
from carchain.core.types import BlockContext
from carchain.engine.application import Application, CheckTxResult
from carchain.engine.mempool import Mempool
from carchain.engine.stateless import VerdictBatch
from carchain.errors import (
    CarchainError,
    DuplicateTransaction,
    InvalidNonce,
    StorageCorrupted,
)
from carchain.storage.blocks import Block, BlockHeader, build_header
from carchain.storage.blockstore import BlockStore

CommitListener = Callable[[Block, list[bytes]], None]


@dataclass(frozen=True, slots=True)
class SoloConfig:
    """Block limits of the solo engine."""

    max_block_txs: int = 5_000
    max_block_bytes: int = 16 * 1024 * 1024
    proposer: bytes = b"\x00" * 20


class SoloEngine:
    """Orders transactions from its mempool into blocks and commits them."""

    def __init__(self, app: Application, config: SoloConfig | None = None) -> None:
        self.app = app
        self.config = config or SoloConfig()
        self.blocks = BlockStore(app.db)
        self.mempool = Mempool()
        self._admitted: set[bytes] = set()
        self._listeners: list[CommitListener] = []
        self.validate_consistency()

    def validate_consistency(self) -> None:
        """Refuse to run if the block store and the state disagree."""
        height = self.blocks.get_height()
        if height != self.app.get_height():
            raise StorageCorrupted(
                "block store and state are at different heights",
                blocks=height,
                state=self.app.get_height(),
            )
        header = self.blocks.get_header(height) if height else None
        if header is not None and header.app_hash != self.app.get_app_hash():
            raise StorageCorrupted("state app hash differs from the last block header's")

    def add_commit_listener(self, listener: CommitListener) -> None:
        """Call ``listener(block, tx_hashes)`` after each commit."""
        self._listeners.append(listener)

    @property
    def height(self) -> int:
        """Return the last committed height."""
        return self.app.get_height()

    def get_block(self, height: int) -> Block | None:
        """Return the committed block at ``height`` or ``None``."""
        return self.blocks.get_block(height)

    def get_header(self, height: int) -> BlockHeader | None:
        """Return the committed header at ``height`` or ``None``."""
        return self.blocks.get_header(height)

    def get_header_and_tx_count(self, height: int) -> tuple[BlockHeader, int] | None:
        """Return the committed header at ``height`` and its transaction count, or ``None``."""
        return self.blocks.get_header_and_tx_count(height)

    def get_tx_location(self, tx_hash: bytes) -> tuple[int, int] | None:
        """Return ``(height, position)`` of a committed transaction, or ``None``."""
        return self.blocks.get_tx_location(tx_hash)

    def submit(self, raw: bytes) -> CheckTxResult:
        """Check a transaction and, if it passes, add it to the mempool."""
        tx_hash = compute_tx_hash(raw)
        try:
            self.mempool.validate_room(tx_hash, len(raw))
        except CarchainError as exc:
            return CheckTxResult.from_error(exc, tx_hash)
        result = self.app.check_tx(raw)
        if result.ok:
            self.mempool.add(tx_hash, raw)
            self._admitted.add(tx_hash)
        elif result.error_code == InvalidNonce.code and self.blocks.get_tx_location(tx_hash):
            # A committed transaction always fails check_tx on its used nonce, so
            # only then is the block store asked (a read saved on every new tx).
            dup = DuplicateTransaction("transaction already committed")
            return CheckTxResult.from_error(dup, tx_hash)
        return result

    def start_checks(self, raws: Sequence[bytes]) -> VerdictBatch:
        """Start verifying a batch's signatures on the pool and return at once: the
        caller may produce a block meanwhile, then pass the batch to ``submit_many``."""
        return self.app.start_stateless(raws)

    def submit_many(
        self, raws: Sequence[bytes], batch: VerdictBatch | None = None
    ) -> list[CheckTxResult]:
        """Submit ``raws`` in order, as ``submit`` one by one would, with the signatures
        checked on the pool (``batch`` from ``start_checks(raws)``, or started here):
        each transaction is admitted as soon as its verdict is in, while the workers
        verify the next ones."""
        batch = self.start_checks(raws) if batch is None else batch
        results: list[CheckTxResult] = []
        for position in self.app.collect_stateless(batch):
            results.extend(self.submit(raw) for raw in raws[len(results) : position + 1])
        results.extend(self.submit(raw) for raw in raws[len(results) :])
        return results

    def produce_block(self, now_ms: int) -> Block | None:
        """Make, execute and commit one block from the mempool; ``None`` if it is empty."""
        picked = self.mempool.peek(self.config.max_block_txs, self.config.max_block_bytes)
        if not picked:
            return None
        tx_hashes = [h for h, _ in picked]
        txs = [raw for _, raw in picked]
        prev = self.blocks.get_header(self.height) if self.height else None
        time_ms = max(now_ms, prev.time_ms + 1) if prev else now_ms
        ctx = BlockContext(self.app.chain_id, self.height + 1, time_ms, self.config.proposer)
        fin = self.app.finalize_block(ctx, txs)
        header = build_header(ctx, prev, txs, fin.tx_results, fin.app_hash)
        block = Block(header, txs, fin.tx_results)

        # When the block is the oldest part of the mempool, every transaction of it
        # admitted by this engine's check state in order, that check state stays
        # exact unless the block wrote a store some admission reads: only then is
        # the rest of the mempool rechecked.
        keep = all(h in self._admitted for h in tx_hashes) and not (
            self.app.is_admission_changed_by_pending()
        )
        self.app.commit(self.blocks.stage_block(block, tx_hashes), keep_check_state=keep)
        self.mempool.remove(tx_hashes)
        self._admitted.difference_update(tx_hashes)
        if not keep:
            self._recheck()
        for listener in self._listeners:
            listener(block, tx_hashes)
        return block

    def _recheck(self) -> None:
        stale = [
            h for h, raw in self.mempool.items() if not self.app.check_tx(raw, recheck=True).ok
        ]
        self.mempool.remove(stale)
        self._admitted = {h for h, _ in self.mempool.items()}
