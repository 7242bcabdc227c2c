"""Proving one record end to end: record -> batch root -> gateway root -> anchor -> app hash.

A proof bundle is a JSON document anyone can check offline against a block
header: the record, its Merkle proof to the batch's records root, the signed
batch header, its proof to the gateway root, the OEM-signed anchor transaction,
and state proofs of the anchor and of the vehicle's registration (for its key)
against the header's app hash. Each failing step raises ``InvalidProof`` naming
the link that broke.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from carchain.core.anchors import STORE as ANCHORS_STORE
from carchain.core.anchors import Anchor, SubmitAnchor, compute_anchor_key
from carchain.core.exceptions import CarchainError, InvalidProof, ProofUnavailable
from carchain.core.transactions import (
    compute_envelope_signing_bytes,
    decode_body,
    decode_envelope,
)
from carchain.core.vehicles import STORE as VEHICLES_STORE
from carchain.core.vehicles import Vehicle, compute_vehicle_key
from carchain.crypto.merkle import MerkleProof, compute_proofs
from carchain.crypto.signing import verify_signature
from carchain.data.batches import decode_signed_header, verify_header_signature
from carchain.data.records import decode_record, get_record_kind
from carchain.sdk.client import Client
from carchain.sdk.proofs import verify_state_proof

FORMAT = "carchain/record-proof/v1"
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


def build_record_proof(
    records: list[bytes], index: int, batch_doc: dict[str, Any], client: Client
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return ``(bundle, block header)`` proving ``records[index]``.

    ``records`` are the decrypted records of the batch, ``batch_doc`` is the
    gateway's batch proof. Both state proofs are read at one state height: the
    anchor's at the latest, the vehicle's at the height that answer names.
    """
    root, proofs = compute_proofs(records)
    header = decode_signed_header(bytes.fromhex(batch_doc["batch_header"])).header
    if root != header.records_root:
        raise InvalidProof("records do not match the batch header's root")
    anchor = batch_doc["anchor"]
    anchor_key = compute_anchor_key(str(anchor["oem"]), int(anchor["seq"]))
    vehicle_key = compute_vehicle_key(header.vehicle_id)
    a = client.query(ANCHORS_STORE, anchor_key, prove=True)
    v = client.query(VEHICLES_STORE, vehicle_key, prove=True, height=int(a["height"]))
    ha = int(a.get("proof_height", a["height"]))
    hv = int(v.get("proof_height", v["height"]))
    if int(v["height"]) != int(a["height"]) or ha != hv:
        raise ProofUnavailable(
            "the node answered the two state proofs at different heights",
            anchor_height=ha,
            vehicle_height=hv,
        )
    block = client.block(ha)
    bundle = {
        "format": FORMAT,
        "record": records[index].hex(),
        "record_proof": proofs[index].to_dict(),
        "batch_header": batch_doc["batch_header"],
        "batch_proof": batch_doc["batch_proof"],
        "anchor_tx": anchor["tx"],
        "state": {
            "height": ha,
            "anchor_key": anchor_key.hex(),
            "anchor_value": a["value"],
            "anchor_proof": a["proof"],
            "vehicle_key": vehicle_key.hex(),
            "vehicle_value": v["value"],
            "vehicle_proof": v["proof"],
        },
    }
    block_header = {k: block[k] for k in ("height", "hash", "time_ms", "app_hash", "tx_root")}
    block_header["chain_id"] = str(client.status()["chain_id"])
    return bundle, block_header


def _hex(doc: dict[str, Any], name: str) -> bytes:
    try:
        return bytes.fromhex(str(doc[name]))
    except (KeyError, ValueError) as exc:
        raise InvalidProof(f"bundle field {name!r} is missing or not hex") from exc


def _step(what: str, exc: CarchainError) -> InvalidProof:
    return InvalidProof(f"{what}: {exc.message}")


def verify_record_proof(bundle: dict[str, Any], block_header: dict[str, Any]) -> VerifiedRecord:
    """Check a bundle offline against a block header; raise ``InvalidProof`` naming the link."""
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT:
        raise InvalidProof(f"not a {FORMAT} bundle")
    state = bundle.get("state")
    if not isinstance(state, dict):
        raise InvalidProof("bundle has no state section")
    try:
        app_hash = bytes.fromhex(str(block_header["app_hash"]))
        height = int(block_header["height"])
    except (KeyError, ValueError, TypeError) as exc:
        raise InvalidProof("block header needs height and app_hash") from exc
    if int(state.get("height", -1)) != height:
        raise InvalidProof("bundle was proven at another height than this block header")

    # 1. record -> batch root
    raw_record = _hex(bundle, "record")
    try:
        record = decode_record(raw_record)
        signed = decode_signed_header(_hex(bundle, "batch_header"))
    except CarchainError as exc:
        raise _step("record or batch header malformed", exc) from exc
    h = signed.header
    try:
        rproof = MerkleProof.from_dict(bundle.get("record_proof"))
        if rproof.total != h.record_count:
            raise InvalidProof("proof size differs from the header's record count")
        rproof.verify(h.records_root, raw_record)
    except InvalidProof as exc:
        raise _step("record is not in the batch", exc) from exc

    # 2. batch header signed by the vehicle, whose registration is in state
    vehicle_value = _hex(state, "vehicle_value")
    try:
        verify_state_proof(
            app_hash,
            VEHICLES_STORE,
            _hex(state, "vehicle_key"),
            vehicle_value,
            state.get("vehicle_proof") or [],
        )
    except InvalidProof as exc:
        raise _step("vehicle registration is not in the app hash", exc) from exc
    vehicle = msgspec.msgpack.decode(vehicle_value, type=Vehicle)
    if vehicle.vehicle_id != h.vehicle_id or _hex(state, "vehicle_key") != compute_vehicle_key(
        h.vehicle_id
    ):
        raise InvalidProof("vehicle registration is for another vehicle")
    try:
        verify_header_signature(signed, vehicle.public_key)
    except CarchainError as exc:
        raise _step("batch header is not signed by the vehicle's key", exc) from exc

    # 3. batch header -> gateway root
    raw_header = _hex(bundle, "batch_header")
    try:
        bproof = MerkleProof.from_dict(bundle.get("batch_proof"))
        gateway_root = bproof.compute_root()
        bproof.verify(gateway_root, raw_header)
    except InvalidProof as exc:
        raise _step("batch header is not in the gateway root", exc) from exc

    # 4. gateway root -> anchor transaction signed by the OEM
    raw_tx = _hex(bundle, "anchor_tx")
    try:
        env = decode_envelope(raw_tx)
        verify_signature(env.signer, compute_envelope_signing_bytes(env), env.signature)
        if env.type != ANCHOR_TX_TYPE:
            raise InvalidProof("transaction is not an anchor")
        body = decode_body(env.body, SubmitAnchor)
    except CarchainError as exc:
        raise _step("anchor transaction invalid", exc) from exc
    if "chain_id" in block_header and env.chain_id != block_header["chain_id"]:
        raise InvalidProof("anchor transaction is for another chain")
    if body.root != gateway_root:
        raise InvalidProof("anchor transaction commits to another gateway root")
    if body.batch_count != bproof.total:
        raise InvalidProof("anchor's batch count differs from the batch proof's tree size")
    if not body.start_ms <= h.start_ms <= h.end_ms <= body.end_ms:
        raise InvalidProof("batch time range lies outside the anchor's")

    # 5. anchor -> app hash
    anchor_value = _hex(state, "anchor_value")
    try:
        verify_state_proof(
            app_hash,
            ANCHORS_STORE,
            _hex(state, "anchor_key"),
            anchor_value,
            state.get("anchor_proof") or [],
        )
    except InvalidProof as exc:
        raise _step("anchor is not in the app hash", exc) from exc
    anchor = msgspec.msgpack.decode(anchor_value, type=Anchor)
    if _hex(state, "anchor_key") != compute_anchor_key(anchor.oem, anchor.seq):
        raise InvalidProof("anchor state key does not match the anchor")
    if (anchor.seq, anchor.root, anchor.batch_count, anchor.manifest_hash, anchor.signer) != (
        body.seq,
        body.root,
        body.batch_count,
        body.manifest_hash,
        env.signer,
    ):
        raise InvalidProof("anchor on chain differs from the anchor transaction")
    if anchor.oem != vehicle.oem:
        raise InvalidProof("anchor is not by the vehicle's OEM")
    if anchor.height > height:
        raise InvalidProof("anchor is newer than the block header")
    return VerifiedRecord(
        kind=get_record_kind(record),
        record=_record_dict(record),
        vehicle_id=h.vehicle_id,
        epoch=h.epoch,
        batch_seq=h.seq,
        oem=anchor.oem,
        anchor_seq=anchor.seq,
        anchor_height=anchor.height,
        height=height,
        app_hash=app_hash,
    )


def _record_dict(record: object) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in getattr(record, "__struct_fields__", ()):
        v = getattr(record, name)
        out[name] = v.hex() if isinstance(v, bytes) else v
    return out
