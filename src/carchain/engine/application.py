"""The application interface both engines drive: info, init_chain, check_tx,
finalize_block, commit, query — the ABCI 2.0 method set, in plain Python types.

The solo engine calls it in-process; the ABCI server translates protobuf
messages to these calls one for one. Stateless checks (decoding, signature) are
cached by transaction hash between check_tx and finalize_block, so a node
verifies each signature once; a batch's are checked in a worker process
(``engine/stateless.py``).
"""

from __future__ import annotations

import collections
import hashlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from carchain import __version__
from carchain.core import block as core_block
from carchain.core.genesis import (
    Genesis,
    apply_genesis,
    compute_genesis_validators,
    encode_genesis,
)
from carchain.core.registry import TX_TYPES, compute_admission_stores
from carchain.core.state import STORE_SET, WriteBuffer
from carchain.core.transactions import Envelope, compute_tx_hash
from carchain.core.types import (
    OK_RESULT_CODE,
    BlockContext,
    Event,
    TxResult,
    ValidatorUpdate,
)
from carchain.engine.stateless import StatelessCache, VerdictBatch
from carchain.errors import CarchainError, InvalidGenesis, NotFound
from carchain.storage.database import Database
from carchain.storage.history import DEFAULT_STATE_VERSIONS
from carchain.storage.ports import CommitParticipant, StateVersion, WriteTransaction
from carchain.storage.statestore import (
    BlockOverlay,
    StateProof,
    StateStore,
    compute_state_proof,
)
from carchain.telemetry.chain import FAILED_RESULT, INVALID_TYPE, ChainMetrics

APP_VERSION = 1


@dataclass(frozen=True, slots=True)
class AppInfo:
    """What the application reports about itself (ABCI Info)."""

    chain_id: str
    last_block_height: int
    last_block_app_hash: bytes
    app_version: int
    version: str


@dataclass(frozen=True, slots=True)
class CheckTxResult:
    """The verdict on a transaction offered to the mempool."""

    code: int
    error_code: str
    log: str
    tx_hash: bytes
    signer: bytes = b""
    nonce: int = 0
    fields: dict[str, object] = field(default_factory=dict)

    @classmethod
    def from_error(cls, exc: CarchainError, tx_hash: bytes) -> CheckTxResult:
        """Return the refusal ``exc`` stands for, its typed fields in JSON form."""
        return cls(exc.abci_code, exc.code, exc.message, tx_hash, fields=exc.to_json_fields())

    @property
    def ok(self) -> bool:
        """Return whether the transaction was accepted."""
        return self.code == OK_RESULT_CODE


@dataclass(frozen=True, slots=True)
class FinalizeResult:
    """Per-transaction results, validator changes and the new app hash."""

    tx_results: list[TxResult]
    validator_updates: list[ValidatorUpdate]
    events: list[Event]
    app_hash: bytes


@dataclass(frozen=True, slots=True)
class QueryResult:
    """A state read, with its proof when asked for."""

    code: int
    error_code: str
    log: str
    height: int
    store: str = ""
    key: bytes = b""
    value: bytes = b""
    proof: StateProof | None = None
    fields: dict[str, object] = field(default_factory=dict)


@dataclass(slots=True)
class _Pending:
    ctx: BlockContext
    overlay: BlockOverlay
    result: FinalizeResult
    txs: list[bytes] = field(default_factory=list)
    items: list[Envelope | CarchainError] = field(default_factory=list)


def _record_block(metrics: ChainMetrics, pending: _Pending) -> None:
    """Count a committed block's transactions by type and result (one counter update per
    type and result, not per transaction), and its height and time."""
    counts: collections.Counter[tuple[str, str]] = collections.Counter()
    for item, result in zip(pending.items, pending.result.tx_results, strict=False):
        tx_type = item.type if isinstance(item, Envelope) else INVALID_TYPE
        failed = result.code != OK_RESULT_CODE
        counts[tx_type, (result.error_code or FAILED_RESULT) if failed else ""] += 1
    for (tx_type, error_code), n in counts.items():
        metrics.record_tx(tx_type, error_code, n)
    metrics.record_commit(pending.ctx.height, pending.ctx.time_ms)


class Application:
    """The carchain application over one state database.

    ``state_versions`` is the window of committed heights kept for queries and
    proofs (the latest and the ``state_versions - 1`` before it).
    """

    def __init__(self, db: Database, state_versions: int = DEFAULT_STATE_VERSIONS) -> None:
        self.db = db
        self.metrics = ChainMetrics()
        self.state = StateStore(db, state_versions)
        raw = db.get_meta("chain_id")
        self.chain_id = raw.decode() if raw else ""
        self._stateless = StatelessCache()
        self._check_state = WriteBuffer(self.state)
        # Types admitted into the check state since it was made (a superset of the
        # types still pending): only their admission rules can go stale.
        self._check_types: set[str] = set()
        self._pending: _Pending | None = None

    # --- Info / InitChain -------------------------------------------------------

    def info(self) -> AppInfo:
        """Return the last committed height and app hash."""
        return AppInfo(
            self.chain_id, self.state.height, self.state.app_hash, APP_VERSION, __version__
        )

    def is_initialised(self) -> bool:
        """Return whether genesis has been applied."""
        return bool(self.chain_id)

    def init_chain(self, genesis: Genesis) -> tuple[bytes, list[ValidatorUpdate]]:
        """Apply genesis and commit it as height 0; return app hash and validators.

        Calling it again with the same genesis (a restart before the first
        block) is a no-op that returns the same answer; another genesis is refused.
        """
        gbytes = encode_genesis(genesis)
        ghash = hashlib.sha256(gbytes).digest()
        if self.is_initialised():
            if self.db.get_meta("genesis_hash") != ghash:
                raise InvalidGenesis("node was initialised with another genesis")
            return self.state.app_hash, compute_genesis_validators(genesis)
        overlay = self.state.begin_block()
        validators = apply_genesis(overlay, genesis)
        if self.state.height != 0:
            raise InvalidGenesis("state already has blocks")

        self.state.commit(overlay, 0, [_GenesisMeta(genesis.chain_id, ghash)])
        self.chain_id = genesis.chain_id
        self.reset_check_state()
        return self.state.app_hash, validators

    # --- CheckTx ---------------------------------------------------------------------

    def validate_stateless_cached(self, raw: bytes, tx_hash: bytes) -> Envelope:
        """Return the stateless-valid envelope, checking each distinct tx once."""
        verdict = self._stateless.get_verdict(raw, tx_hash, self.chain_id)
        if isinstance(verdict, CarchainError):
            raise verdict.with_traceback(None)  # a cached error: its traceback starts here
        return verdict

    def start_stateless(self, raws: Sequence[bytes]) -> VerdictBatch:
        """Start the stateless checks of the uncached ``raws`` in the worker process and
        return at once (the caller's thread may execute a block meanwhile)."""
        return self._stateless.start(raws, self.chain_id)

    def collect_stateless(self, batch: VerdictBatch) -> Iterator[int]:
        """Cache ``batch``'s verdicts as they arrive; yield each one's position after it
        (``check_tx`` of that transaction then finds its verdict cached)."""
        return self._stateless.collect(batch)

    def warm_stateless_pool(self) -> None:
        """Start the stateless checks' worker processes and wait until one answers."""
        self._stateless.warm().result()

    def close_stateless_pool(self) -> None:
        """Stop the stateless checks' worker processes."""
        self._stateless.close()

    def check_tx(self, raw: bytes, recheck: bool = False) -> CheckTxResult:
        """Decide whether ``raw`` may enter the mempool.

        Runs the stateless checks (cached by hash), then admission against the
        check state (committed state plus the nonces of everything accepted
        since): the nonce must be the signer's next one and the signer must be
        allowed to send this type at all. The type's full rules run in the block,
        where a violation is recorded as a failed transaction. A recheck after a
        commit runs the same checks, so it is cheap.
        """
        with self.metrics.check_tx.time():
            tx_hash = compute_tx_hash(raw)
            try:
                env = self.validate_stateless_cached(raw, tx_hash)
                core_block.validate_admission(self._check_state, env)
            except CarchainError as exc:
                return CheckTxResult.from_error(exc, tx_hash)
            core_block.process_admission(self._check_state, env)
            self._check_types.add(env.type)
            return CheckTxResult(OK_RESULT_CODE, "", "", tx_hash, env.signer, env.nonce)

    # --- ProcessProposal / FinalizeBlock / Commit -------------------------------------

    def validate_block_txs(self, txs: list[bytes]) -> None:
        """Raise unless every transaction of a proposal is admissible, in order (ProcessProposal).

        Runs the stateless checks and then admission (signer admitted for the
        type, next nonce) in block order over a scratch view of committed
        state, so a proposer cannot fill a block with transactions of signers
        who are not admitted: such a proposal is rejected.
        """
        scratch = WriteBuffer(self.state)
        for raw in txs:
            env = self.validate_stateless_cached(raw, compute_tx_hash(raw))
            core_block.validate_admission(scratch, env)
            core_block.process_admission(scratch, env)

    def select_block_txs(self, txs: list[bytes]) -> list[bytes]:
        """Return the transactions a proposal may hold, in order (PrepareProposal).

        Keeps exactly those that ``validate_block_txs`` accepts, so this node
        never proposes a block that it, and every honest node, would reject.
        """
        scratch = WriteBuffer(self.state)
        kept: list[bytes] = []
        for raw in txs:
            try:
                env = self.validate_stateless_cached(raw, compute_tx_hash(raw))
                core_block.validate_admission(scratch, env)
            except CarchainError:
                continue
            core_block.process_admission(scratch, env)
            kept.append(raw)
        return kept

    def finalize_block(self, ctx: BlockContext, txs: list[bytes]) -> FinalizeResult:
        """Execute a decided block; return results and the app hash it leads to.

        A transaction that fails the stateless checks or admission gets a
        failed result and writes nothing, not even a nonce (CometBFT may decide
        a block that our ProcessProposal rejected). The validator updates are
        merged per key and checked against CometBFT's rules in the core.
        """
        started = time.perf_counter()
        overlay = self.state.begin_block()
        items: list[Envelope | CarchainError] = []
        for raw in txs:
            try:
                items.append(self.validate_stateless_cached(raw, compute_tx_hash(raw)))
            except CarchainError as exc:
                items.append(exc)
        block = core_block.process_block(overlay, ctx, items)
        app_hash = overlay.compute_app_hash()
        fin = FinalizeResult(block.tx_results, block.validator_updates, block.events, app_hash)
        self._pending = _Pending(ctx, overlay, fin, list(txs), items)
        self.metrics.finalize_block.observe(time.perf_counter() - started)
        return fin

    def commit(
        self,
        block: CommitParticipant | None = None,
        keep_check_state: bool = False,
    ) -> int:
        """Persist the finalized block's state and the engine's ``block`` record atomically.

        ``block`` is what the engine's block store staged for this height
        (``stage_block``); it is written last, in the same transaction.

        Returns the retain height (0: keep everything). Resets the check state,
        and the engine rechecks its mempool, unless ``keep_check_state``: an
        engine may pass it when the block was exactly the oldest transactions
        of its own mempool and ``is_admission_changed_by_pending()`` is false,
        because then the check state already equals a recheck's result.
        """
        pending = self._pending
        if pending is None:
            raise CarchainError("commit without finalize_block")
        with self.metrics.commit.time():
            self.state.commit(pending.overlay, pending.ctx.height, [] if block is None else [block])
        self._pending = None
        _record_block(self.metrics, pending)
        if not keep_check_state:
            self.reset_check_state()
        return 0

    def reset_check_state(self) -> None:
        """Forget the admission effects of everything checked since the last commit
        (the mempool that held those transactions is gone).
        """
        self._check_state = WriteBuffer(self.state)
        self._check_types = set()

    def is_admission_changed_by_pending(self) -> bool:
        """Return whether the finalized block changed anything admission reads.

        Admission reads nonces and the stores each registry row declares
        (``TxType.admission_reads``); nonces advance exactly as the check state
        predicted when the block is a mempool prefix, so only writes to a store
        that the admission of a type in the check state reads can change a
        verdict (a block of registrations writes ``vehicles``, which only owner
        admission reads: pending registrations keep their verdicts).
        """
        pending = self._pending
        if pending is None:
            raise CarchainError("no finalized block")
        read = compute_admission_stores(TX_TYPES[t] for t in self._check_types)
        return any(store in read for store, _ in pending.overlay.writes)

    @property
    def pending_height(self) -> int | None:
        """Return the height finalized but not yet committed, if any."""
        return None if self._pending is None else self._pending.ctx.height

    # --- Reads for the engines, the node and the API ---------------------------------------

    def get_height(self) -> int:
        """Return the last committed height."""
        return self.state.height

    def get_app_hash(self) -> bytes:
        """Return the app hash after the last committed height."""
        return self.state.app_hash

    def get_oldest_height(self) -> int:
        """Return the oldest committed height that can still be read and proven."""
        return self.state.get_oldest_height()

    def read(self, store: str, key: bytes, height: int = 0) -> bytes | None:
        """Return ``key``'s committed value in ``store`` at ``height`` (0: latest), or ``None``.

        Raises ``HeightUnavailable`` for a height outside the state window.
        """
        return self.state.get_version(height).get(store, key)

    def iterate(
        self, store: str, prefix: bytes, limit: int, after: bytes = b""
    ) -> Iterator[tuple[bytes, bytes]]:
        """Yield up to ``limit`` latest committed pairs by key prefix, keys after ``after``."""
        return self.state.iterate(store, prefix, limit, after)

    def close(self) -> None:
        """Stop the stateless checks' workers and close the state database."""
        self._stateless.close()
        self.db.close()

    # --- Query ----------------------------------------------------------------------------

    def query(self, store: str, key: bytes, prove: bool = False, height: int = 0) -> QueryResult:
        """Read ``key`` from ``store`` as committed at ``height``, with a proof if asked.

        ``height`` 0 is the latest committed height; any height of the state
        window can be read. Outside it the result carries ``height_unavailable``.
        """
        if store not in STORE_SET:
            err = NotFound("no such store", store=store)
            return _query_failed(err, height or self.state.height)
        try:
            view = self.state.get_version(height)
        except CarchainError as exc:
            return _query_failed(exc, height, store, key)
        if prove:
            return _query_proved(view, store, key)
        value = view.get(store, key)
        if value is None:
            err = NotFound("no value under this key", store=store)
            return _query_failed(err, view.height, store, key)
        return QueryResult(OK_RESULT_CODE, "", "", view.height, store, key, value)


def _query_proved(view: StateVersion, store: str, key: bytes) -> QueryResult:
    height = view.height
    try:
        proof = compute_state_proof(view, store, key)
    except CarchainError as exc:
        return _query_failed(exc, height, store, key)
    if not proof.value:
        err = NotFound("key was deleted; the proof shows its empty value")
        return _query_failed(err, height, store, key, proof)
    return QueryResult(OK_RESULT_CODE, "", "", height, store, key, proof.value, proof)


@dataclass(frozen=True, slots=True)
class _GenesisMeta:
    """The chain id and genesis hash, written with the genesis state (height 0)."""

    chain_id: str
    genesis_hash: bytes

    def write_in(self, txn: WriteTransaction) -> None:
        txn.executemany(
            "INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)",
            [("chain_id", self.chain_id.encode()), ("genesis_hash", self.genesis_hash)],
        )


def _query_failed(
    exc: CarchainError,
    height: int,
    store: str = "",
    key: bytes = b"",
    proof: StateProof | None = None,
) -> QueryResult:
    fields = exc.to_json_fields()
    return QueryResult(exc.abci_code, exc.code, exc.message, height, store, key, b"", proof, fields)
