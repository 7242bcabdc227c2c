"""Proving one record end to end: record -> segment roots -> gateway root -> anchor -> app hash.

A proof bundle (``carchain/record-proof/v3``) is a JSON document anyone can
check offline: the record's projections (one per category proven, each with its
leaf salt and its Merkle proof to its segment's salted root in the batch header), the
signed batch header, its proof to the gateway root, the OEM-signed anchor
transaction, state proofs of the anchor and of the vehicle's registration (for
its key), and the ``block`` whose app hash they prove against, with every header
field (and, on a network, the commit and validator set) so its hash is
recomputed (see ``carchain.sdk.bundle_block``). What vouches for that block is
the caller's ``BlockTrust``, never the bundle. Each link is one ``check_*``
function; a failing link raises ``InvalidProof`` (or a subclass) naming it, a
malformed bundle ``MalformedBundle``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec

from carchain.core.anchors import STORE as ANCHORS_STORE
from carchain.core.anchors import Anchor, SubmitAnchor, compute_anchor_body, compute_anchor_key
from carchain.core.transactions import (
    Envelope,
    compute_envelope_signing_bytes,
    decode_body,
    decode_envelope,
)
from carchain.core.vehicles import STORE as VEHICLES_STORE
from carchain.core.vehicles import (
    KeyPeriod,
    Vehicle,
    compute_key_period_key,
    compute_vehicle_key,
    get_key_history,
)
from carchain.crypto.kdf import LEAF_SALT_SIZE, compute_leaf_salt
from carchain.crypto.merkle import MerkleProof, compute_proofs
from carchain.crypto.signing import verify_signature
from carchain.data.batches import (
    BatchHeader,
    OpenedSegment,
    SignedBatchHeader,
    decode_signed_header,
    get_segment,
    verify_header_signature,
)
from carchain.data.projections import decode_projection, encode_projection, merge_projections
from carchain.data.records import Record, get_record_kind
from carchain.data.segments import compute_segment_leaves
from carchain.errors import (
    CarchainError,
    InvalidOption,
    InvalidProof,
    KeyNotValidForBatch,
    ProofUnavailable,
)
from carchain.sdk.bundle_block import (
    COMETBFT,
    SOLO,
    BlockTrust,
    VerifiedBlock,
    compute_block_section_hash,
    compute_solo_header_json,
    verify_bundle_block,
)
from carchain.sdk.bundle_format import FORMAT, ParsedBundle, ProvenProjection, parse_bundle
from carchain.sdk.chainview import ChainView
from carchain.sdk.client import Client
from carchain.sdk.light import compute_header_hash, fetch_light_block_docs, parse_light_block
from carchain.sdk.proofs import verify_state_proof

T = TypeVar("T")
ANCHOR_TX_TYPE = "anchor.submit"


@dataclass(frozen=True, slots=True)
class VerifiedRecord:
    """What a successful verification established."""

    kind: str
    record: dict[str, Any]
    vehicle_id: str
    epoch: int
    batch_seq: int
    oem: str
    anchor_seq: int
    anchor_height: int
    height: int
    app_hash: bytes
    engine: str = ""
    chain_id: str = ""
    block_hash: bytes = b""
    trusted_by: tuple[str, ...] = ()
    key_version: int = 1
    categories: tuple[str, ...] = ()
    record_index: int = 0


def _read_state_proofs(
    client: Client, keys: tuple[bytes, bytes, bytes]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], int]:
    """Read the three state proofs at one state height; return them and the proof height.

    The anchor's is read at the latest height, the others at the height that
    answer names (the node keeps a window of past versions).
    """
    a = client.query(ANCHORS_STORE, keys[0], prove=True)
    at = get_answer_int(a, "height")
    v = client.query(VEHICLES_STORE, keys[1], prove=True, height=at)
    k = client.query(VEHICLES_STORE, keys[2], prove=True, height=at)
    heights = {
        get_answer_int(d, "proof_height" if "proof_height" in d else "height") for d in (a, v, k)
    }
    if {get_answer_int(v, "height"), get_answer_int(k, "height")} != {at} or len(heights) != 1:
        raise ProofUnavailable(
            "the node answered the state proofs at different heights", heights=sorted(heights)
        )
    return a, v, k, heights.pop()


def get_answer_int(doc: object, field: str) -> int:
    """Return a non-negative integer field of a node's answer; ``ProofUnavailable`` if
    the answer is not a JSON object, lacks it, or holds anything but an integer there.
    """
    value = doc.get(field) if isinstance(doc, dict) else None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise ProofUnavailable("the node's answer is malformed", field=field)
    return value


def _find_key_version(client: Client, signed: SignedBatchHeader) -> int:
    """Return the version of the vehicle key that signed the batch (newest first).

    Key periods are never deleted, so the version found at the latest height is
    there at every later height the proofs may be read at.
    """
    vid = signed.header.vehicle_id
    for period in reversed(get_key_history(ChainView(client), vid)):
        try:
            verify_header_signature(signed, period.public_key)
        except CarchainError:
            continue
        return period.key_version
    raise InvalidProof("no key the vehicle ever had signed this batch", vehicle_id=vid)


def build_block_section(client: Client, height: int, rpc_url: str | None) -> dict[str, Any]:
    """Return the bundle's ``block`` section for header ``height``: all header fields
    (solo, from the API), or CometBFT's header, commit and validators (from ``rpc_url``).
    """
    status = client.status()
    if status.get("engine") == COMETBFT:
        if not rpc_url:
            raise InvalidOption(
                "a bundle on a network needs the CometBFT RPC URL (--rpc)", option="--rpc"
            )
        docs = fetch_light_block_docs(rpc_url, height)
        digest = compute_header_hash(parse_light_block(docs).header)
        return {"engine": COMETBFT, "hash": digest.hex(), **docs}
    header = client.header(height)
    section = {
        "engine": SOLO,
        "hash": str(header["hash"]),
        "header": compute_solo_header_json(header, str(status["chain_id"])),
    }
    _, digest = compute_block_section_hash(section)
    if digest.hex() != section["hash"]:
        raise InvalidProof("the node's block does not hash to its stated hash", height=height)
    return section


def build_record_proof(
    opened: Mapping[str, OpenedSegment],
    index: int,
    batch_doc: dict[str, Any],
    client: Client,
    rpc_url: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return ``(bundle, block section)`` proving record ``index`` of the batch.

    ``opened`` are the batch's decrypted segments the prover holds (by category):
    the bundle proves every projection of the record among them. ``batch_doc`` is
    the gateway's batch proof. The state proofs are read at one state height: the
    anchor's at the latest, the others at the height that answer names. The block
    section is also returned alone: it is the header copy a user may keep. A
    malformed answer of the node or the gateway (a missing field, a non-integer
    height, bad hex) raises ``ProofUnavailable``.
    """
    try:
        return _assemble_record_proof(opened, index, batch_doc, client, rpc_url)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        # msgspec's DecodeError is a ValueError; CarchainErrors pass through.
        raise ProofUnavailable(
            "the node's or the gateway's answer is malformed", error=type(exc).__name__
        ) from exc


def compute_projection_proofs(
    header: BatchHeader, opened: Mapping[str, OpenedSegment], index: int
) -> list[dict[str, Any]]:
    """Return the bundle's ``projections``: record ``index``'s projection in every opened
    segment that has one, with its salt and proof; ``InvalidProof`` if there is none or a
    segment does not match the header's root."""
    out: list[dict[str, Any]] = []
    for cat in sorted(opened):
        seg = opened[cat]
        root, proofs = compute_proofs(compute_segment_leaves(seg.segment_key, seg.projections))
        if root != get_segment(header, cat).records_root:
            raise InvalidProof("a segment does not match the batch header's root")
        for j, p in enumerate(seg.projections):
            if p.index == index:
                out.append(
                    {
                        "category": cat,
                        "projection": encode_projection(p).hex(),
                        "salt": compute_leaf_salt(seg.segment_key, index).hex(),
                        "proof": proofs[j].to_dict(),
                    }
                )
    if not out:
        raise InvalidProof("no opened segment holds that record", index=index)
    return out


def _assemble_record_proof(
    opened: Mapping[str, OpenedSegment],
    index: int,
    batch_doc: dict[str, Any],
    client: Client,
    rpc_url: str | None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    signed = decode_signed_header(bytes.fromhex(batch_doc["batch_header"]))
    header = signed.header
    projections = compute_projection_proofs(header, opened, index)
    anchor = batch_doc["anchor"]
    anchor_key = compute_anchor_key(str(anchor["oem"]), int(anchor["seq"]))
    vehicle_key = compute_vehicle_key(header.vehicle_id)
    period_key = compute_key_period_key(header.vehicle_id, _find_key_version(client, signed))
    a, v, k, height = _read_state_proofs(client, (anchor_key, vehicle_key, period_key))
    block = build_block_section(client, height, rpc_url)
    bundle = {
        "format": FORMAT,
        "record_index": index,
        "projections": projections,
        "batch_header": batch_doc["batch_header"],
        "batch_proof": batch_doc["batch_proof"],
        "anchor_tx": anchor["tx"],
        "state": {
            "height": height,
            "anchor_key": anchor_key.hex(),
            "anchor_value": a["value"],
            "anchor_proof": a["proof"],
            "vehicle_key": vehicle_key.hex(),
            "vehicle_value": v["value"],
            "vehicle_proof": v["proof"],
            "key_period_key": period_key.hex(),
            "key_period_value": k["value"],
            "key_period_proof": k["proof"],
        },
        "block": block,
    }
    return bundle, copy.deepcopy(block)  # the user's copy, not an alias of the bundle's


def _step(what: str, exc: CarchainError) -> InvalidProof:
    return InvalidProof(f"{what}: {exc.message}", link=what)


def _decode(raw: bytes, kind: type[T], what: str) -> T:
    try:
        return msgspec.msgpack.decode(raw, type=kind)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
        raise InvalidProof(f"{what} does not decode", link=what) from exc


def _verify_state_record(
    app_hash: bytes, store: str, proven: tuple[bytes, bytes, Any], kind: type[T], what: str
) -> T:
    """Return the record a bundle proves under ``app_hash`` (``proven``: key, value, proof)."""
    key, value, proof = proven
    try:
        verify_state_proof(app_hash, store, key, value, proof)
    except InvalidProof as exc:
        raise _step(f"{what} is not in the app hash", exc) from exc
    return _decode(value, kind, what)


# --- the links, in order: each raises naming itself ---------------------------------------


def check_projection(h: BatchHeader, index: int, proven: ProvenProjection) -> Any:
    """Link 1a: one projection is record ``index``'s, at its place in its segment's root."""
    segment = get_segment(h, proven.category)
    p = decode_projection(proven.projection, proven.category)
    if p.index != index:
        raise InvalidProof("projection is of another record", index=p.index)
    if len(proven.salt) != LEAF_SALT_SIZE:
        raise InvalidProof("leaf salt must be 16 bytes")
    proof = MerkleProof.from_dict(proven.proof)
    if proof.total != segment.count:
        raise InvalidProof("proof size differs from the segment's projection count")
    proof.verify(segment.records_root, proven.salt + proven.projection)
    return p


def check_record_in_batch(b: ParsedBundle) -> tuple[Record, SignedBatchHeader]:
    """Link 1: every projection of the record is in its segment's root in the batch
    header. Return the record they make (the proven categories' fields) and the header."""
    try:
        signed = decode_signed_header(b.batch_header)
    except CarchainError as exc:
        raise _step("batch header malformed", exc) from exc
    try:
        parts = [check_projection(signed.header, b.record_index, p) for p in b.projections]
        record = merge_projections(parts)
    except CarchainError as exc:
        raise _step("record is not in the batch", exc) from exc
    return record, signed


def check_vehicle_registration(b: ParsedBundle, app_hash: bytes, vehicle_id: str) -> Vehicle:
    """Link 2a: the vehicle's registration (its key) is committed under the app hash."""
    proven = (b.vehicle_key, b.vehicle_value, b.vehicle_proof)
    vehicle = _verify_state_record(
        app_hash, VEHICLES_STORE, proven, Vehicle, "vehicle registration"
    )
    if vehicle.vehicle_id != vehicle_id or b.vehicle_key != compute_vehicle_key(vehicle_id):
        raise InvalidProof("vehicle registration is for another vehicle", link="vehicle")
    return vehicle


def check_key_period(b: ParsedBundle, app_hash: bytes, vehicle_id: str) -> KeyPeriod:
    """Link 2b: one period of the vehicle's key history is committed under the app hash."""
    proven = (b.key_period_key, b.key_period_value, b.key_period_proof)
    period = _verify_state_record(
        app_hash, VEHICLES_STORE, proven, KeyPeriod, "vehicle key history"
    )
    if b.key_period_key != compute_key_period_key(vehicle_id, period.key_version):
        raise InvalidProof("vehicle key record is for another vehicle or key version", link="key")
    return period


def check_batch_signature(signed: SignedBatchHeader, period: KeyPeriod) -> None:
    """Link 2c: the batch header is signed by that key, and it was the vehicle's key then."""
    try:
        verify_header_signature(signed, period.public_key)
    except CarchainError as exc:
        raise _step("batch header is not signed by the vehicle's key", exc) from exc
    validate_key_period_for_batch(signed.header, period)


def validate_key_period_for_batch(header: BatchHeader, period: KeyPeriod) -> None:
    """Raise ``KeyNotValidForBatch`` unless ``period`` overlaps the batch's time range.

    A key rotated in after the batch ended, or rotated out before it began, was
    not the vehicle's key for that data. The first key also covers the time
    before registration (cars record at the factory).
    """
    version = period.key_version
    if version > 1 and period.since_ms > header.end_ms:
        raise KeyNotValidForBatch(
            f"batch was signed by key version {version}, rotated in at {period.since_ms} ms, "
            f"after the batch's time range ended at {header.end_ms} ms",
            vehicle_id=header.vehicle_id,
            key_version=version,
        )
    if period.until_ms and period.until_ms <= header.start_ms:
        raise KeyNotValidForBatch(
            f"batch was signed by key version {version}, rotated out at {period.until_ms} ms, "
            f"before the batch's time range began at {header.start_ms} ms",
            vehicle_id=header.vehicle_id,
            key_version=version,
        )


def check_batch_in_gateway_root(b: ParsedBundle) -> MerkleProof:
    """Link 3: the batch header is in the gateway root; return the proof (root, size)."""
    try:
        bproof = MerkleProof.from_dict(b.batch_proof)
        bproof.verify(bproof.compute_root(), b.batch_header)
    except InvalidProof as exc:
        raise _step("batch header is not in the gateway root", exc) from exc
    return bproof


def check_anchor_tx(b: ParsedBundle, chain_id: str) -> tuple[Envelope, SubmitAnchor]:
    """Link 4a: the anchor transaction is OEM-signed, an anchor, of the block's chain."""
    try:
        env = decode_envelope(b.anchor_tx)
        verify_signature(env.signer, compute_envelope_signing_bytes(env), env.signature)
        if env.type != ANCHOR_TX_TYPE:
            raise InvalidProof("transaction is not an anchor")
        body = decode_body(env.body, SubmitAnchor)
    except CarchainError as exc:
        raise _step("anchor transaction invalid", exc) from exc
    if env.chain_id != chain_id:
        raise InvalidProof("anchor transaction is for another chain", link="chain id")
    return env, body


def check_anchor_covers_batch(body: SubmitAnchor, bproof: MerkleProof, h: BatchHeader) -> None:
    """Link 4b: the anchor commits to the gateway root and covers the batch's time range."""
    if body.root != bproof.compute_root():
        raise InvalidProof("anchor transaction commits to another gateway root", link="anchor")
    if body.batch_count != bproof.total:
        raise InvalidProof("anchor's batch count differs from the batch proof's tree size")
    if not body.start_ms <= h.start_ms <= h.end_ms <= body.end_ms:
        raise InvalidProof("batch time range lies outside the anchor's", link="anchor")


def check_anchor_in_state(
    b: ParsedBundle, app_hash: bytes, env: Envelope, body: SubmitAnchor, oem: str
) -> Anchor:
    """Link 5: the anchor is committed under the app hash, as the transaction says."""
    proven = (b.anchor_key, b.anchor_value, b.anchor_proof)
    anchor = _verify_state_record(app_hash, ANCHORS_STORE, proven, Anchor, "anchor")
    if b.anchor_key != compute_anchor_key(anchor.oem, anchor.seq):
        raise InvalidProof("anchor state key does not match the anchor")
    if compute_anchor_body(anchor) != body or anchor.signer != env.signer:
        raise InvalidProof("anchor on chain differs from the anchor transaction", link="anchor")
    if anchor.oem != oem:
        raise InvalidProof("anchor is not by the vehicle's OEM", link="anchor")
    if anchor.height > b.height:
        raise InvalidProof("anchor is newer than the block header", link="anchor")
    return anchor


def check_block(b: ParsedBundle, trust: BlockTrust) -> VerifiedBlock:
    """Link 6: the block recomputes to its hash, and the user's trust root vouches for it."""
    block = verify_bundle_block(b.block, trust)
    if block.height != b.height:
        raise InvalidProof("bundle was proven at another height than its block", link="height")
    return block


def verify_record_proof(bundle: Any, trust: BlockTrust) -> VerifiedRecord:
    """Check a bundle offline against the caller's trust root; raise naming the failed link."""
    b = parse_bundle(bundle)
    block = check_block(b, trust)
    record, signed = check_record_in_batch(b)
    h = signed.header
    vehicle = check_vehicle_registration(b, block.app_hash, h.vehicle_id)
    period = check_key_period(b, block.app_hash, h.vehicle_id)
    check_batch_signature(signed, period)
    bproof = check_batch_in_gateway_root(b)
    env, body = check_anchor_tx(b, block.chain_id)
    check_anchor_covers_batch(body, bproof, h)
    anchor = check_anchor_in_state(b, block.app_hash, env, body, vehicle.oem)
    return VerifiedRecord(
        kind=get_record_kind(record),
        record=_record_dict(record),
        vehicle_id=h.vehicle_id,
        epoch=h.epoch,
        batch_seq=h.seq,
        oem=anchor.oem,
        anchor_seq=anchor.seq,
        anchor_height=anchor.height,
        height=block.height,
        app_hash=block.app_hash,
        engine=block.engine,
        chain_id=block.chain_id,
        block_hash=block.hash,
        trusted_by=tuple(block.trusted_by),
        key_version=period.key_version,
        categories=tuple(p.category for p in b.projections),
        record_index=b.record_index,
    )


def _record_dict(record: object) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in getattr(record, "__struct_fields__", ()):
        v = getattr(record, name)
        out[name] = v.hex() if isinstance(v, bytes) else v
    return out
