"""What the API needs from a node, whichever engine runs underneath."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from starlette.types import ASGIApp

from carchain.core.types import TxResult
from carchain.engine.application import CheckTxResult, QueryResult
from carchain.errors import CarchainError
from carchain.telemetry.chain import ChainMetrics

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
class Readiness:
    """Whether a node can serve its clients: caught up and its consensus reachable.

    ``reasons`` names each unmet condition (empty when ready); ``consensus_height``
    is what the consensus engine reports (the node's own height for solo).
    """

    height: int
    consensus_height: int
    reasons: tuple[str, ...] = ()

    @property
    def ready(self) -> bool:
        """Return whether every condition holds."""
        return not self.reasons


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


class CommittedTxs(Protocol):
    """A stored block as far as a transaction's status needs it (either engine's block)."""

    @property
    def txs(self) -> list[bytes]:
        """Return the block's transactions, in order."""

    @property
    def results(self) -> list[TxResult]:
        """Return the block's transaction results, in order."""


def compute_tx_status(
    tx_hash: bytes, loc: tuple[int, int] | None, block: CommittedTxs | None, pending: bool
) -> TxStatus:
    """Return a transaction's status from its tx-index entry ``loc`` (height, index), the
    block at that height, and whether the mempool holds it."""
    if loc is not None:
        if block is None:
            raise CarchainError("transaction index points at a missing block")
        height, index = loc
        return TxStatus(tx_hash, "committed", height, index, block.results[index], block.txs[index])
    return TxStatus(tx_hash, "pending" if pending else "unknown")


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


@dataclass(frozen=True, slots=True)
class HeaderView:
    """An engine-neutral view of a committed block's header, without its transactions.

    ``results_hash`` is the solo header's root over the results (empty on a network:
    CometBFT's header of a height carries the previous block's results hash).
    """

    height: int
    hash: bytes
    time_ms: int
    prev_hash: bytes
    tx_root: bytes
    app_hash: bytes
    proposer: bytes
    tx_count: int
    results_hash: bytes = b""


def compute_header_view(block: BlockView) -> HeaderView:
    """Return the header of a block view (for an engine that keeps no header apart)."""
    return HeaderView(
        block.height, block.hash, block.time_ms, block.prev_hash, block.tx_root,
        block.app_hash, block.proposer, len(block.txs),
    )  # fmt: skip


class NodeBackend(Protocol):
    """The operations the REST API offers, implemented per engine."""

    @property
    def chain_id(self) -> str:
        """Return the chain id."""

    @property
    def metrics(self) -> ChainMetrics:
        """Return the chain metrics its application records."""

    def status(self) -> NodeStatus:
        """Return the node's status."""

    async def check_readiness(self) -> Readiness:
        """Return whether the node is caught up and its consensus reachable."""

    async def submit(self, raw: bytes, mode: SubmitMode, timeout_s: float) -> SubmitResult:
        """Check a transaction; in commit mode also wait until it is in a block."""

    async def submit_batch(self, raws: list[bytes]) -> list[SubmitResult]:
        """Check transactions in order (sync mode); one verdict each."""

    def get_tx(self, tx_hash: bytes) -> TxStatus:
        """Return where a transaction is."""

    def get_block_optional(self, height: int) -> BlockView | None:
        """Return the committed block at ``height``."""

    def get_header_optional(self, height: int) -> HeaderView | None:
        """Return the committed block header at ``height`` (no transactions read out)."""

    def query(self, store: str, key: bytes, prove: bool, height: int = 0) -> QueryResult:
        """Read committed state at ``height`` (0: latest), with a proof when asked."""

    def get_proof_app_hash_optional(self, height: int) -> tuple[int, bytes] | None:
        """Return ``(header height, app hash)`` of the header that commits state ``height``."""

    def iterate(
        self, store: str, prefix: bytes, limit: int, after: bytes
    ) -> Iterator[tuple[bytes, bytes]]:
        """Yield committed ``(key, value)`` pairs of a store by key prefix."""


@runtime_checkable
class CommitWaiter(Protocol):
    """A backend that can wake a coroutine when a block commits (both engines' can).

    The event stream uses it when the backend offers it, and polls ``status`` otherwise.
    """

    async def wait_for_height(self, height: int, timeout_s: float) -> int:
        """Return the committed height once it is at least ``height``, or after
        ``timeout_s`` whatever it is then."""


# Builds the node API over a backend. The composition at the top (``cli/``, ``sim/``)
# passes ``carchain.api.app.create_app``: the node and network layers never import
# the API, which sits above them.
ApiFactory = Callable[[NodeBackend], ASGIApp]
