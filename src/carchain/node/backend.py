"""What the API needs from a node, whichever engine runs underneath."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal, Protocol

from carchain.core.types import TxResult
from carchain.engine.application import CheckTxResult, QueryResult

SubmitMode = Literal["sync", "commit"]


@dataclass(frozen=True, slots=True)
class NodeStatus:
    """A node's view of the chain."""

    chain_id: str
    engine: str
    height: int
    app_hash: bytes
    mempool_size: int
    latest_block_time_ms: int


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """The check verdict and, in commit mode, where and how the transaction landed."""

    check: CheckTxResult
    height: int = 0
    index: int = 0
    result: TxResult | None = None


@dataclass(frozen=True, slots=True)
class TxStatus:
    """Where a transaction is: pending in the mempool, committed, or unknown."""

    tx_hash: bytes
    state: Literal["pending", "committed", "unknown"]
    height: int = 0
    index: int = 0
    result: TxResult | None = None
    tx: bytes = b""


@dataclass(frozen=True, slots=True)
class BlockView:
    """An engine-neutral view of a committed block."""

    height: int
    hash: bytes
    time_ms: int
    prev_hash: bytes
    tx_root: bytes
    app_hash: bytes
    proposer: bytes
    txs: list[bytes] = field(default_factory=list)
    results: list[TxResult] = field(default_factory=list)


class NodeBackend(Protocol):
    """The operations the REST API offers, implemented per engine."""

    @property
    def chain_id(self) -> str:
        """Return the chain id."""

    def status(self) -> NodeStatus:
        """Return the node's status."""

    async def submit(self, raw: bytes, mode: SubmitMode, timeout_s: float) -> SubmitResult:
        """Check a transaction; in commit mode also wait until it is in a block."""

    def get_tx(self, tx_hash: bytes) -> TxStatus:
        """Return where a transaction is."""

    def get_block(self, height: int) -> BlockView | None:
        """Return the committed block at ``height``."""

    def query(self, store: str, key: bytes, prove: bool, height: int = 0) -> QueryResult:
        """Read committed state at ``height`` (0: latest), with a proof when asked."""

    def get_proof_app_hash(self, height: int) -> tuple[int, bytes] | None:
        """Return ``(header height, app hash)`` of the header that commits state ``height``."""

    def iterate(
        self, store: str, prefix: bytes, limit: int, after: bytes
    ) -> Iterator[tuple[bytes, bytes]]:
        """Yield committed ``(key, value)`` pairs of a store by key prefix."""
