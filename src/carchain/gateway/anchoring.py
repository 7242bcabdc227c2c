"""Anchoring: one transaction per block commits every batch header the gateway accepted.

Each step either settles the oldest unconfirmed anchor or builds the next one:
the ordered headers go into a manifest (stored as a blob), their RFC 6962 root
and counts into an ``anchor.submit`` body, and anchor row plus batch assignment
into the journal, all before the transaction is sent. The transaction is sent in
commit mode, so the next anchor is built only after this one is in a block:
at most one anchor per gateway per block, which the chain enforces too.

After a crash the unconfirmed anchor is settled first: committed, it is marked;
unknown to the node, the same bytes are sent again; refused because its nonce
was used meanwhile (or included but failed), it is re-signed with a fresh nonce
and the same body. The node's "pending" is trusted only for ``stale_pending_s``:
a mempool can lose a transaction (a CometBFT restart), so an anchor pending
that long is sent again (a copy still in a mempool is refused as a duplicate).
The chain accepts each anchor sequence number once, so no batch is ever
anchored twice. If the chain holds another anchor of our OEM at the row's
sequence number (a journal restored from an older backup, two gateways on one
OEM key), the row's batches go back to unanchored and are anchored at chain
head + 1; when that other anchor is one we built (its manifest is in our blob
store), it is recorded with its batches instead, so none goes out twice.

Several instances of one OEM's gateway share the journal; only the holder of the
anchoring lease runs the steps (``lease``): the gateway sets ``fence`` to the lease
it holds before each step, every journal write of the step names it and is refused
(``LeaseLost``) if another instance took the lease, and the fence is checked again
just before a transaction is sent. An instance that takes the lease over settles
the previous holder's unconfirmed anchor by the rules above.
"""

from __future__ import annotations

import base64
import logging
import time
from dataclasses import dataclass

import msgspec

from carchain.core.anchors import (
    Anchor,
    AnchorHead,
    SubmitAnchor,
    get_anchor_head,
    get_anchor_optional,
)
from carchain.core.transactions import compute_tx_hash, decode_body, decode_envelope
from carchain.crypto.merkle import MerkleProof, compute_proofs
from carchain.data.batches import compute_header_hash, compute_records_root
from carchain.errors import (
    CarchainError,
    CommitTimeout,
    DuplicateTransaction,
    InvalidNonce,
    NotFound,
)
from carchain.gateway.journal import AnchorRow, BatchRow, Journal
from carchain.gateway.lease import Fence
from carchain.sdk.account import Account
from carchain.sdk.chainview import ChainView
from carchain.storage.blobstore import BlobStore

log = logging.getLogger("carchain.gateway")
MAX_BATCHES_PER_ANCHOR = 100_000
STALE_PENDING_S = 60.0


class AnchorManifest(msgspec.Struct, array_like=True, frozen=True):
    """The off-chain list of signed batch headers one anchor commits to, in leaf order."""

    oem: str
    seq: int
    headers: list[bytes]


_encoder = msgspec.msgpack.Encoder()
_manifest_decoder = msgspec.msgpack.Decoder(AnchorManifest)


def decode_manifest(raw: bytes) -> AnchorManifest:
    """Decode an anchor manifest."""
    return _manifest_decoder.decode(raw)


def compute_gateway_root(headers: list[bytes]) -> bytes:
    """Return the gateway root: RFC 6962 over the encoded signed batch headers."""
    return compute_records_root(headers)


@dataclass(frozen=True, slots=True)
class AnchorOutcome:
    """What one anchoring step did."""

    seq: int
    batch_count: int
    height: int


class Anchorer:
    """Builds, sends and settles the anchors of one OEM gateway."""

    def __init__(
        self,
        oem: str,
        account: Account,
        journal: Journal,
        blobs: BlobStore,
        max_batches: int = MAX_BATCHES_PER_ANCHOR,
        commit_timeout_s: float = 30.0,
        stale_pending_s: float = STALE_PENDING_S,
    ) -> None:
        self.oem = oem
        self.account = account
        self.journal = journal
        self.blobs = blobs
        self.max_batches = max_batches
        self.commit_timeout_s = commit_timeout_s
        self.stale_pending_s = stale_pending_s
        self._proof_cache: dict[int, list[MerkleProof]] = {}
        self._pending_since: tuple[bytes, float] | None = None
        # The lease the steps run under (``None``: a lone gateway, no lease checked).
        self.fence: Fence | None = None

    def get_chain_head(self) -> AnchorHead:
        """Return this OEM's latest anchor head on chain."""
        return get_anchor_head(ChainView(self.account.client), self.oem)

    def get_chain_anchor_optional(self, seq: int) -> Anchor | None:
        """Return this OEM's anchor ``seq`` on chain, or ``None`` if not committed."""
        return get_anchor_optional(ChainView(self.account.client), self.oem, seq)

    def step(self) -> AnchorOutcome | None:
        """Settle the pending anchor or build and send the next one; ``None`` if idle."""
        pending = self.journal.get_unconfirmed_anchor_optional()
        if pending is None:
            pending = self._build_next()
            if pending is None:
                return None
        return self._settle(pending)

    def _build_next(self) -> AnchorRow | None:
        rows = self.journal.get_unanchored(self.max_batches)
        if not rows:
            return None
        seq = max(self.journal.get_last_anchor_seq(), self.get_chain_head().seq) + 1
        headers = [r.header for r in rows]
        manifest = _encoder.encode(AnchorManifest(self.oem, seq, headers))
        manifest_hash = self.blobs.put(manifest)
        body = SubmitAnchor(
            seq=seq,
            root=compute_gateway_root(headers),
            batch_count=len(rows),
            record_count=sum(r.record_count for r in rows),
            start_ms=min(r.start_ms for r in rows),
            end_ms=max(r.end_ms for r in rows),
            manifest_hash=manifest_hash,
        )
        self.account.resync()
        tx = self.account.build(body)
        row = AnchorRow(body, tx, compute_tx_hash(tx), height=0)
        self.journal.add_anchor(row, [r.header_hash for r in rows], self.fence)
        return row

    def _settle(self, row: AnchorRow) -> AnchorOutcome | None:
        committed = self.get_chain_anchor_optional(row.body.seq)
        if committed is not None:
            if committed.root != row.body.root:
                self._release_conflicting(row, committed)
                return None
            return self._confirm(row, committed)
        try:
            state = str(self.account.client.tx(row.tx_hash)["state"])
        except NotFound:
            state = "unknown"
        if state == "committed":
            # Included but failed (e.g. two anchors raced into one block): re-sign.
            self._resign(row)
            return None
        if state == "pending" and not self._is_stale_pending(row.tx_hash):
            return None
        self._pending_since = None
        self.journal.validate_fence(self.fence)
        try:
            self.account.client.submit(row.tx, "commit", self.commit_timeout_s)
        except InvalidNonce:
            # The key's nonce moved on (another transaction, or a crash before sending).
            self._resign(row)
            return None
        except (DuplicateTransaction, CommitTimeout):
            # A mempool holds these bytes (still, or now): pending; look again later.
            return None
        # Other errors (timeouts, an unreachable node, a refused signer) reach the loop,
        # which backs off, shows them in the gateway's status and looks again.
        committed = self.get_chain_anchor_optional(row.body.seq)
        if committed is None:
            return None
        return self._confirm(row, committed)

    def _confirm(self, row: AnchorRow, committed: Anchor) -> AnchorOutcome:
        self.journal.confirm_anchor(row.body.seq, committed.height, self.fence)
        return AnchorOutcome(row.body.seq, row.body.batch_count, committed.height)

    def _release_conflicting(self, row: AnchorRow, committed: Anchor) -> None:
        """The chain holds another anchor of our OEM at ``row.body.seq`` (a journal restored
        from an older backup, or a second gateway on our key): give the row's batches
        back to unanchored, so the next step anchors them at chain head + 1. If the
        chain's anchor is one this gateway built (its manifest is in our blob store),
        record it and its batches as anchored, so none is anchored twice.
        """
        log.warning(
            "anchor %d on chain has another root than ours: re-anchoring its batches", row.body.seq
        )
        adopted = self._find_adoptable(committed)
        if adopted is None:
            self.journal.release_anchor(row.body.seq, fence=self.fence)
            return
        anchor_row, headers = adopted
        hashes = tuple(compute_header_hash(h) for h in headers)
        self.journal.release_anchor(row.body.seq, anchor_row, hashes, self.fence)

    def _find_adoptable(self, committed: Anchor) -> tuple[AnchorRow, list[bytes]] | None:
        """Return the chain's anchor as a journal row and its manifest's headers, if its
        manifest is ours and its transaction is in its block; else ``None``.
        """
        if committed.oem != self.oem or not self.blobs.has(committed.manifest_hash):
            return None
        try:
            manifest = decode_manifest(self.blobs.get(committed.manifest_hash))
        except (CarchainError, msgspec.DecodeError):
            return None
        if (
            manifest.seq != committed.seq
            or compute_gateway_root(manifest.headers) != committed.root
        ):
            return None
        for tx in self._get_block_txs(committed.height):
            body = _decode_anchor_tx(tx, committed.signer)
            if body is not None and body.seq == committed.seq and body.root == committed.root:
                row = AnchorRow(body, tx, compute_tx_hash(tx), committed.height)
                return row, manifest.headers
        return None

    def _get_block_txs(self, height: int) -> list[bytes]:
        txs = self.account.client.block(height).get("txs", [])
        return [base64.b64decode(t) for t in txs if isinstance(t, str)]

    def _is_stale_pending(self, tx_hash: bytes) -> bool:
        now = time.monotonic()
        if self._pending_since is None or self._pending_since[0] != tx_hash:
            self._pending_since = (tx_hash, now)
        if now - self._pending_since[1] < self.stale_pending_s:
            return False
        log.warning(
            "anchor %s pending for %.0fs: sending it again",
            tx_hash.hex(),
            now - self._pending_since[1],
        )
        return True

    def _resign(self, row: AnchorRow) -> None:
        self.account.resync()
        tx = self.account.build(row.body)
        self.journal.replace_anchor_tx(row.body.seq, tx, compute_tx_hash(tx), self.fence)

    def get_batch_proof(self, batch: BatchRow) -> tuple[AnchorRow, MerkleProof]:
        """Return the committed anchor covering ``batch`` and the batch's proof to its root."""
        if batch.anchor_seq is None or batch.anchor_index is None:
            raise NotFound("batch not anchored yet")
        anchor = self.journal.get_anchor_optional(batch.anchor_seq)
        if anchor is None or not anchor.height:
            raise NotFound("batch not anchored yet")
        proofs = self._proof_cache.get(anchor.body.seq)
        if proofs is None:
            manifest = decode_manifest(self.blobs.get(anchor.body.manifest_hash))
            _, proofs = compute_proofs(manifest.headers)
            if len(self._proof_cache) > 64:
                self._proof_cache.clear()
            self._proof_cache[anchor.body.seq] = proofs
        return anchor, proofs[batch.anchor_index]


def _decode_anchor_tx(tx: bytes, signer: bytes) -> SubmitAnchor | None:
    """Return the body of an ``anchor.submit`` by ``signer``, or ``None`` for another tx."""
    try:
        env = decode_envelope(tx)
        if env.type != "anchor.submit" or env.signer != signer:
            return None
        return decode_body(env.body, SubmitAnchor)
    except CarchainError:
        return None
