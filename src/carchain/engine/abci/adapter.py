"""ABCI 2.0 requests to ``Application`` calls and back, one for one.

The adapter is thin: it converts protobuf messages to the plain Python types
the solo engine also uses and converts the answers back. It adds only what a
CometBFT node needs beyond the solo engine: the record of decided blocks
(``BlockLog``) written atomically with each commit, and commit listeners the
node API uses to answer "wait for commit" submissions.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Collection
from typing import Any

from carchain.core import members
from carchain.core.genesis import decode_genesis
from carchain.core.transactions import compute_tx_hash
from carchain.core.types import BlockContext, Event, TxResult
from carchain.core.validators import compute_validator_address
from carchain.engine.abci import protos
from carchain.engine.abci.blocklog import BlockLog, DecidedBlock
from carchain.engine.abci.connections import Role
from carchain.engine.application import Application, QueryResult
from carchain.errors import (
    AbciSequenceError,
    CarchainError,
    InvalidGenesis,
    NotFound,
    encode_fields_json,
)

log = logging.getLogger("carchain.abci")

CommitListener = Callable[[DecidedBlock, list[bytes]], None]
APP_NAME = "carchain"
PENDING_LIMIT = 200_000
# Requests of the consensus connection: a failure there must stop the node.
CONSENSUS_REQUESTS = frozenset(
    {"init_chain", "prepare_proposal", "process_proposal", "finalize_block", "commit"}
)
BLOCK_ID_FLAG_COMMIT = 2  # tendermint.types.BlockIDFlag: the vote is for the block
MAX_VALIDATOR_INDEX = 100_000  # validator index entries read to map addresses to keys


def compute_time_ms(timestamp: Any) -> int:
    """Return a protobuf Timestamp as Unix milliseconds."""
    return int(timestamp.seconds) * 1000 + int(timestamp.nanos) // 1_000_000


def parse_query_path(path: str) -> str:
    """Return the store a query path names: ``/store/<name>[/key]`` or ``/<name>``."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "store":
        return parts[1]
    if len(parts) == 1:
        return parts[0]
    raise NotFound("unknown query path; use /store/<name>/key", path=path[:100])


class AbciAdapter:
    """Answers ABCI requests by driving one ``Application``."""

    def __init__(self, app: Application) -> None:
        self.app = app
        self.blocks = BlockLog(app.db)
        self.abci = protos.get_abci()
        self._crypto = protos.get_crypto_keys()
        self._proof = protos.get_crypto_proof()
        self._listeners: list[CommitListener] = []
        self._decided: DecidedBlock | None = None
        # Called with the decided block just before it is committed (fault injection).
        self.before_commit: Callable[[DecidedBlock], None] | None = None
        # Transactions this node's CometBFT mempool accepted and no block has included
        # yet, each with the loop time it was accepted (see ``drop_pending_missing``).
        self.pending: OrderedDict[bytes, float] = OrderedDict()
        self.clock: Callable[[], float] = time.monotonic
        self._handlers: dict[str, Callable[[Any], Any]] = {
            "echo": self.handle_echo,
            "info": self.handle_info,
            "init_chain": self.handle_init_chain,
            "query": self.handle_query,
            "check_tx": self.handle_check_tx,
            "prepare_proposal": self.handle_prepare_proposal,
            "process_proposal": self.handle_process_proposal,
            "finalize_block": self.handle_finalize_block,
            "commit": self.handle_commit,
            "extend_vote": lambda _r: self.abci.ResponseExtendVote(),
            "verify_vote_extension": lambda _r: self.abci.ResponseVerifyVoteExtension(
                status=self.abci.ResponseVerifyVoteExtension.ACCEPT
            ),
            "list_snapshots": lambda _r: self.abci.ResponseListSnapshots(),
            "offer_snapshot": lambda _r: self.abci.ResponseOfferSnapshot(
                result=self.abci.ResponseOfferSnapshot.REJECT
            ),
            "load_snapshot_chunk": lambda _r: self.abci.ResponseLoadSnapshotChunk(),
            "apply_snapshot_chunk": lambda _r: self.abci.ResponseApplySnapshotChunk(
                result=self.abci.ResponseApplySnapshotChunk.ABORT
            ),
        }

    def get_block(self, height: int) -> DecidedBlock | None:
        """Return the decided block recorded at ``height`` or ``None``."""
        return self.blocks.get_block(height)

    def get_header_app_hash(self, height: int) -> bytes | None:
        """Return the app hash CometBFT's header ``height`` carries, if that block is here."""
        return self.blocks.get_header_app_hash(height)

    def get_tx_location(self, tx_hash: bytes) -> tuple[int, int] | None:
        """Return ``(height, position)`` of a committed transaction, or ``None``."""
        return self.blocks.get_tx_location(tx_hash)

    def add_commit_listener(self, listener: CommitListener) -> None:
        """Call ``listener(block, tx_hashes)`` after each commit."""
        self._listeners.append(listener)

    def handle(self, kind: str, request: Any) -> Any:
        """Return the ``Response`` for one ``Request`` whose oneof field is ``kind``.

        Errors in consensus requests propagate: ``AbciSequenceError`` (a request
        out of order) makes the server refuse it on its connection, any other
        error stops the node. In any other request they become a failed answer.
        """
        handler = self._handlers.get(kind)
        if handler is None:
            return self.abci.Response(
                exception=self.abci.ResponseException(error=f"unsupported request {kind!r}")
            )
        try:
            answer = handler(getattr(request, kind))
        except Exception:
            if kind in CONSENSUS_REQUESTS:
                raise
            # A mempool or query request must not take the node down, and
            # CometBFT's socket client stops the node on any ResponseException:
            # a bug while checking a transaction or answering a query becomes
            # an ordinary failed answer with the ``internal`` code instead.
            log.exception("ABCI %s failed", kind)
            if kind == "check_tx":
                return self.abci.Response(
                    check_tx=self.abci.ResponseCheckTx(
                        code=CarchainError.abci_code, codespace="internal", log="internal error"
                    )
                )
            if kind == "query":
                return self.abci.Response(
                    query=self.abci.ResponseQuery(
                        code=CarchainError.abci_code, codespace="internal", log="internal error"
                    )
                )
            return self.abci.Response(exception=self.abci.ResponseException(error="internal"))
        return self.abci.Response(**{kind: answer})

    # --- connection lifecycle ---------------------------------------------------------

    def process_connection_opened(self, role: Role) -> None:
        """A connection took ``role`` with its first request.

        A new query connection (CometBFT's handshake ``Info``) or a new mempool
        connection means a new CometBFT process, whose mempool starts empty:
        whatever this application still thought pending is gone from it.
        """
        if role in (Role.QUERY, Role.MEMPOOL):
            self.reset_mempool_view(f"new {role.value} connection")

    def process_connection_closed(self, role: Role | None) -> None:
        """A connection closed: forget what only that CometBFT connection knew."""
        if role is Role.CONSENSUS and self._decided is not None:
            # CometBFT will finalize this height again on its next consensus connection.
            log.warning("consensus connection closed before committing %d", self._decided.height)
            self._decided = None
        if role is Role.MEMPOOL:
            self.reset_mempool_view("mempool connection closed")

    def reset_mempool_view(self, why: str) -> None:
        """Forget every pending transaction and the check state built on them."""
        if self.pending:
            log.info("%s: forgetting %d pending transactions", why, len(self.pending))
        self.pending.clear()
        self.app.reset_check_state()

    def drop_pending_missing(self, in_mempool: Collection[bytes], since: float) -> int:
        """Drop pending transactions accepted before ``since`` that CometBFT's mempool
        (``in_mempool``: hashes, read after ``since``) no longer holds; return how many.
        """
        gone = [h for h, t in self.pending.items() if t < since and h not in in_mempool]
        for h in gone:
            del self.pending[h]
        return len(gone)

    # --- connection handshake -------------------------------------------------------

    def handle_echo(self, req: Any) -> Any:
        """Echo the message back."""
        return self.abci.ResponseEcho(message=req.message)

    def handle_info(self, _req: Any) -> Any:
        """Report the last committed height and app hash (the handshake's input)."""
        info = self.app.info()
        return self.abci.ResponseInfo(
            data=APP_NAME,
            version=info.version,
            app_version=info.app_version,
            last_block_height=info.last_block_height,
            last_block_app_hash=info.last_block_app_hash if info.last_block_height else b"",
        )

    def handle_init_chain(self, req: Any) -> Any:
        """Apply the carchain genesis carried as CometBFT's ``app_state``."""
        genesis = decode_genesis(bytes(req.app_state_bytes))
        if genesis.chain_id != req.chain_id:
            raise InvalidGenesis(
                "app_state chain id differs from CometBFT's",
                app=genesis.chain_id,
                comet=req.chain_id,
            )
        app_hash, validators = self.app.init_chain(genesis)
        return self.abci.ResponseInitChain(
            app_hash=app_hash,
            validators=[self.make_validator_update(v.pub_key, v.power) for v in validators],
        )

    def make_validator_update(self, pub_key: bytes, power: int) -> Any:
        """Return an ABCI ``ValidatorUpdate`` for an Ed25519 key."""
        return self.abci.ValidatorUpdate(
            pub_key=self._crypto.PublicKey(ed25519=pub_key), power=power
        )

    # --- mempool ----------------------------------------------------------------------

    def handle_check_tx(self, req: Any) -> Any:
        """Check a new transaction, or recheck one left in the mempool after a block."""
        recheck = req.type == self.abci.RECHECK
        res = self.app.check_tx(bytes(req.tx), recheck=recheck)
        if res.ok:
            if not recheck:
                self.pending[res.tx_hash] = self.clock()
                if len(self.pending) > PENDING_LIMIT:
                    self.pending.popitem(last=False)
        else:
            self.pending.pop(res.tx_hash, None)
        # The error's fields ride in ``data`` too: broadcast_tx_sync relays data, not info.
        fields = encode_fields_json(res.fields)
        return self.abci.ResponseCheckTx(
            code=res.code, log=res.log, codespace=res.error_code, info=fields, data=fields.encode()
        )

    # --- consensus --------------------------------------------------------------------

    def handle_prepare_proposal(self, req: Any) -> Any:
        """Propose the mempool's transactions minus any that would make peers reject it."""
        return self.abci.ResponsePrepareProposal(
            txs=self.app.select_block_txs([bytes(t) for t in req.txs])
        )

    def handle_process_proposal(self, req: Any) -> Any:
        """Accept a proposal only if every transaction passes the stateless checks and
        admission in order against committed state (a signer not admitted costs nothing)."""
        status = self.abci.ResponseProcessProposal
        try:
            self.app.validate_block_txs([bytes(t) for t in req.txs])
        except CarchainError as exc:
            log.warning("rejecting proposal at height %d: %s", req.height, exc.message)
            return status(status=status.REJECT)
        return status(status=status.ACCEPT)

    def handle_finalize_block(self, req: Any) -> Any:
        """Execute the decided block; return results, validator updates and the app hash.

        Only the next height, once: a block already finalized and not committed,
        or any other height, is refused with ``AbciSequenceError``.
        """
        self.validate_finalize_height(int(req.height))
        txs = [bytes(t) for t in req.txs]
        header_app_hash = self.app.get_app_hash()
        ctx = BlockContext(
            self.app.chain_id,
            int(req.height),
            compute_time_ms(req.time),
            bytes(req.proposer_address),
            self.get_signers(req.decided_last_commit),
        )
        fin = self.app.finalize_block(ctx, txs)
        self._decided = DecidedBlock(
            ctx.height,
            bytes(req.hash),
            ctx.time_ms,
            ctx.proposer,
            header_app_hash,
            fin.app_hash,
            txs,
            fin.tx_results,
        )
        return self.abci.ResponseFinalizeBlock(
            events=[self.make_event(e) for e in fin.events],
            tx_results=[self.make_exec_result(r) for r in fin.tx_results],
            validator_updates=[
                self.make_validator_update(v.pub_key, v.power) for v in fin.validator_updates
            ],
            app_hash=fin.app_hash,
        )

    def get_signers(self, commit_info: Any) -> tuple[bytes, ...]:
        """Return the keys of the validators whose vote in ``commit_info`` was for the block.

        A vote names only the validator's address; it is mapped to the key
        through the validator index of committed state (the same on every
        node). Addresses the state does not know (a key governance has since
        released) are left out: they hold no power in the state. Sorted.
        """
        signed = {
            bytes(v.validator.address)
            for v in commit_info.votes
            if v.block_id_flag == BLOCK_ID_FLAG_COMMIT
        }
        if not signed:
            return ()
        by_address: dict[bytes, bytes] = {}
        index = members.VALIDATOR_INDEX_PREFIX
        for key, _ in self.app.iterate(members.STORE, index, MAX_VALIDATOR_INDEX):
            pub_key = members.get_validator_key_of_index(key)
            by_address[compute_validator_address(pub_key)] = pub_key
        return tuple(sorted(by_address[a] for a in signed if a in by_address))

    def validate_finalize_height(self, height: int) -> None:
        """Raise ``AbciSequenceError`` unless ``height`` is the one to finalize now."""
        if not self.app.is_initialised():
            raise AbciSequenceError("finalize_block before init_chain", height=height)
        if self._decided is not None:
            raise AbciSequenceError(
                "a block is already finalized and not committed",
                height=height,
                finalized=self._decided.height,
            )
        expected = self.app.get_height() + 1
        if height != expected:
            raise AbciSequenceError(
                "finalize_block height is not the next one", height=height, expected=expected
            )

    def make_event(self, event: Event) -> Any:
        """Return an ABCI ``Event`` (attributes indexed)."""
        return self.abci.Event(
            type=event.type,
            attributes=[
                self.abci.EventAttribute(key=k, value=v, index=True)
                for k, v in event.attributes.items()
            ],
        )

    def make_exec_result(self, result: TxResult) -> Any:
        """Return an ABCI ``ExecTxResult``; the stable error code goes in ``codespace``."""
        return self.abci.ExecTxResult(
            code=result.code,
            log=result.log,
            info=encode_fields_json(result.fields),
            codespace=result.error_code,
            events=[self.make_event(e) for e in result.events],
        )

    def handle_commit(self, _req: Any) -> Any:
        """Persist the finalized block's state and its block record in one transaction."""
        block = self._decided
        if block is None:
            raise AbciSequenceError("commit without finalize_block")
        if self.before_commit is not None:
            self.before_commit(block)
        tx_hashes: list[bytes] = [compute_tx_hash(t) for t in block.txs]
        retain = self.app.commit(self.blocks.stage_block(block, tx_hashes))
        self._decided = None
        for h in tx_hashes:
            self.pending.pop(h, None)
        for listener in self._listeners:
            listener(block, tx_hashes)
        return self.abci.ResponseCommit(retain_height=retain)

    # --- query ----------------------------------------------------------------------------

    def handle_query(self, req: Any) -> Any:
        """Read committed state at ``req.height``, with ``simple:v`` proof ops if asked.

        Any height of the application's state window can be asked for; its
        proof checks against the app hash in CometBFT's header ``height + 1``.
        """
        try:
            store = parse_query_path(req.path)
        except CarchainError as exc:
            return self.abci.ResponseQuery(
                code=exc.abci_code,
                log=exc.message,
                info=encode_fields_json(exc.to_json_fields()),
                codespace=exc.code,
                height=self.app.get_height(),
            )
        height = self.get_query_height(int(req.height), bool(req.prove))
        q = self.app.query(store, bytes(req.data), bool(req.prove), height)
        return self.abci.ResponseQuery(
            code=q.code,
            log=q.log,
            info=encode_fields_json(q.fields),
            codespace=q.error_code,
            key=q.key,
            value=q.value,
            height=q.height,
            proof_ops=self.make_proof_ops(q),
        )

    def get_query_height(self, height: int, prove: bool) -> int:
        """Return the state height to answer a query for ``height`` at.

        An explicit height is answered as asked. Height 0 with a proof means the
        newest state whose app hash is already in a block header this node's
        CometBFT has, so the proof can be checked at once (CometBFT's light
        client fetches header ``H+1`` for a proof at ``H``): the latest state
        ``H`` once block ``H+1`` is decided, else ``H-1`` (header ``H`` exists
        because block ``H`` is committed). Without a proof, 0 is the latest.
        """
        latest = self.app.get_height()
        if height or not prove or latest <= 1 or self.app.pending_height == latest + 1:
            return height
        if latest - 1 < self.app.get_oldest_height():
            return 0  # a window of one height: only the latest can be proven
        return latest - 1

    def make_proof_ops(self, q: QueryResult) -> Any:
        """Return CometBFT ``ProofOps``: key in store root, store root in app hash."""
        if q.proof is None:
            return None
        p = q.proof
        ops = []
        for key, mp in ((p.key, p.value_proof), (p.store.encode(), p.store_proof)):
            value_op = self._proof.ValueOp(
                key=key,
                proof=self._proof.Proof(
                    total=mp.total, index=mp.index, leaf_hash=mp.leaf_hash, aunts=list(mp.aunts)
                ),
            )
            ops.append(
                self._proof.ProofOp(type="simple:v", key=key, data=value_op.SerializeToString())
            )
        return self._proof.ProofOps(ops=ops)
