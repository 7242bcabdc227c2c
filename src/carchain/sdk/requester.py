"""The requester's side of a release: fetch, verify against the chain, decrypt, sign a receipt.

``fetch_release`` reads the release on chain, fetches the sealed package from the
gateway and checks that its SHA-256 is the on-chain ``package_hash``, opens it with
the requester's key (it opens for this chain, vehicle, request and requester only),
checks every item is a batch x category the release names, and for each one
fetches the segment ciphertext, checks the batch header against its anchor on
chain (``verify_batch_anchored``: vehicle signature with the vehicle's key of
that time, Merkle proof to the gateway root, the OEM-signed anchor transaction,
and the anchor as committed on chain), that it is of the release's vehicle and
has the times the release names for it (``validate_released_header``), and opens
the segment.

A receipt item per batch (``compute_receipt_items``): ``record_count`` = how many
distinct records the received segments hold a part of; ``records_digest`` =
SHA-256 over the RFC 6962 leaf hashes of every received projection, categories in
name order, projections in segment order. The leaves are salted, so the digest
names exactly the data received and reveals none of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from carchain.core.access import get_request
from carchain.core.access_releases import (
    AccessRelease,
    ReceiptAccess,
    ReceiptItem,
    get_release,
)
from carchain.core.anchors import SubmitAnchor, compute_anchor_body, get_anchor
from carchain.core.transactions import compute_envelope_signing_bytes, decode_body, decode_envelope
from carchain.core.vehicles import get_key_history, get_vehicle
from carchain.crypto.hashing import compute_sha256
from carchain.crypto.merkle import MerkleProof, compute_leaf_hash
from carchain.crypto.signing import SigningKey, verify_signature
from carchain.data.batches import (
    SignedBatchHeader,
    compute_header_hash,
    decode_signed_header,
    open_segment,
    verify_header_signature,
)
from carchain.data.projections import Projection
from carchain.data.release import compute_release_commitment, open_release
from carchain.data.segments import compute_segment_leaves
from carchain.errors import CarchainError, InvalidProof, InvalidReleasePackage, Unauthorized
from carchain.sdk.account import Account, get_chain_id
from carchain.sdk.chainview import ChainView
from carchain.sdk.client import Client
from carchain.sdk.gateway_client import GatewayClient
from carchain.sdk.record_proofs import check_anchor_covers_batch, validate_key_period_for_batch

ANCHOR_TX_TYPE = "anchor.submit"


@dataclass(frozen=True, slots=True)
class ReleasedSegment:
    """One decrypted segment of a release: which batch and category, and its projections."""

    header_hash: bytes
    category: str
    signed: SignedBatchHeader
    segment_key: bytes
    projections: list[Projection]


def verify_batch_signature(view: ChainView, signed: SignedBatchHeader) -> None:
    """Raise ``InvalidProof`` unless a key the vehicle had for the batch's time signed it."""
    for period in get_key_history(view, signed.header.vehicle_id):
        try:
            verify_header_signature(signed, period.public_key)
            validate_key_period_for_batch(signed.header, period)
        except CarchainError:
            continue
        return
    raise InvalidProof("no key of the vehicle for that time signed this batch")


def verify_batch_anchored(
    client: Client, doc: dict[str, Any], header_hash: bytes, chain_id: str
) -> SignedBatchHeader:
    """Return the signed header of a gateway batch proof once it checks against the chain:
    the header hashes to ``header_hash``, is signed by the vehicle, is in the gateway root
    the OEM's anchor transaction commits to, and that anchor is committed on chain."""
    try:
        raw = bytes.fromhex(doc["batch_header"])
        proof = MerkleProof.from_dict(doc["batch_proof"])
        env = decode_envelope(bytes.fromhex(doc["anchor"]["tx"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidProof("the gateway's batch proof is malformed") from exc
    if compute_header_hash(raw) != header_hash:
        raise InvalidProof("the gateway's header is not the released batch", link="header")
    signed = decode_signed_header(raw)
    view = ChainView(client)
    verify_batch_signature(view, signed)
    proof.verify(proof.compute_root(), raw)
    verify_signature(env.signer, compute_envelope_signing_bytes(env), env.signature)
    if env.type != ANCHOR_TX_TYPE or env.chain_id != chain_id:
        raise InvalidProof("not an anchor transaction of this chain", link="anchor")
    body = decode_body(env.body, SubmitAnchor)
    check_anchor_covers_batch(body, proof, signed.header)
    oem = get_vehicle(view, signed.header.vehicle_id).oem
    anchor = get_anchor(view, oem, body.seq)
    if compute_anchor_body(anchor) != body or anchor.signer != env.signer:
        raise InvalidProof("the anchor on chain differs from the anchor transaction")
    return signed


def validate_released_header(
    release: AccessRelease, header_hash: bytes, signed: SignedBatchHeader
) -> None:
    """Raise ``InvalidProof`` unless the batch is of the release's vehicle and has the
    times the release names for it on chain (a custodian or gateway cannot pass another
    vehicle's or another time's batch off under a released header hash)."""
    h = signed.header
    named = {(b.header_hash, b.start_ms, b.end_ms) for b in release.batches}
    key = (header_hash, h.start_ms, h.end_ms)
    if h.vehicle_id != release.vehicle_id or key not in named:
        raise InvalidProof("the batch is not of the vehicle and times the release names")


def validate_items_in_release(release: AccessRelease, items: list[Any]) -> None:
    """Raise ``InvalidReleasePackage`` unless every item is a batch x category the release
    names on chain."""
    batches = {b.header_hash for b in release.batches}
    for item in items:
        if item.header_hash not in batches or item.category not in release.categories:
            raise InvalidReleasePackage("package holds a key the release on chain does not name")


def fetch_release(
    gateway_client: GatewayClient,
    client: Client,
    vehicle_id: str,
    request_seq: int,
    requester_key: SigningKey,
) -> list[ReleasedSegment]:
    """Return the decrypted segments of a release, each checked against the chain.

    ``gateway_client`` must sign its reads with ``requester_key``. Raises
    ``Unauthorized`` if the request is not this key's, ``InvalidReleasePackage`` if the
    package is not the one committed on chain, ``InvalidProof`` if a batch is not the
    anchored one, ``DecryptionFailed`` if a key does not open its segment.
    """
    view = ChainView(client)
    request = get_request(view, vehicle_id, request_seq)
    if request.requester != requester_key.public_key:
        raise Unauthorized("this key is not the request's requester", vehicle_id=vehicle_id)
    release = get_release(view, vehicle_id, request_seq)
    package = gateway_client.release_package(vehicle_id, request_seq)
    if compute_release_commitment(package) != release.package_hash:
        raise InvalidReleasePackage("the gateway's package is not the one the release commits to")
    chain_id = get_chain_id(client)
    items = open_release(package, requester_key, chain_id, vehicle_id, request_seq)
    validate_items_in_release(release, items)
    out: list[ReleasedSegment] = []
    for item in items:
        doc = gateway_client.batch_proof(item.header_hash, request_seq)
        signed = verify_batch_anchored(client, doc, item.header_hash, chain_id)
        validate_released_header(release, item.header_hash, signed)
        ct = gateway_client.segment_ciphertext(item.header_hash, item.category, request_seq)
        projections = open_segment(signed, item.category, ct, item.segment_key)
        out.append(
            ReleasedSegment(item.header_hash, item.category, signed, item.segment_key, projections)
        )
    return out


def compute_records_digest(segments: list[ReleasedSegment]) -> bytes:
    """Return SHA-256 over the leaf hashes of the segments' projections (categories in name
    order, projections in segment order)."""
    hashes = b""
    for seg in sorted(segments, key=lambda s: s.category):
        for leaf in compute_segment_leaves(seg.segment_key, seg.projections):
            hashes += compute_leaf_hash(leaf)
    return compute_sha256(hashes)


def compute_receipt_items(segments: list[ReleasedSegment]) -> list[ReceiptItem]:
    """Return one receipt item per batch of the segments, in first-seen order."""
    by_batch: dict[bytes, list[ReleasedSegment]] = {}
    for seg in segments:
        by_batch.setdefault(seg.header_hash, []).append(seg)
    items = []
    for header_hash, segs in by_batch.items():
        count = len({p.index for s in segs for p in s.projections})
        items.append(ReceiptItem(header_hash, count, compute_records_digest(segs)))
    return items


def post_receipt(
    client: Client,
    requester_key: SigningKey,
    vehicle_id: str,
    request_seq: int,
    items: list[ReceiptItem],
) -> dict[str, Any]:
    """Sign and post ``access.receipt`` for the items; return the node's answer."""
    body = ReceiptAccess(vehicle_id, request_seq, items)
    return Account(client, requester_key).send(body)
