"""A proof bundle checked by a verifier written from docs/formats.md section 11 alone.

Nothing of carchain is imported here: MessagePack is decoded generically and the
canonical form re-checked with the page's encoder, hashes, trees and signatures
come from hashlib and pyca/cryptography. If it accepts a genuine bundle and refuses
tampered ones, the page is enough to write a verifier.
"""

from __future__ import annotations

import copy
from typing import Any

import msgspec
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tests.docs import reference as ref
from tests.docs.reference import mp, sha256, u16be, u64be

Bundle = tuple[dict[str, Any], dict[str, Any]]
VEHICLE_FIELDS = ["vehicle_id", "oem", "vin_commitment", "public_key", "model", "year", "owner"]
VEHICLE_FIELDS += ["status", "registered_height", "key_version", "transfer_seq"]
VEHICLE_FIELDS += ["revoked_reason", "key_since_ms", "owner_since_ms"]
ANCHOR_BODY = ["seq", "root", "batch_count", "record_count", "start_ms", "end_ms"]
ANCHOR_BODY += ["manifest_hash"]


class Refused(Exception):
    """The independent verifier refuses the bundle at a named link."""


def decode(raw: bytes, what: str) -> Any:
    """Decode MessagePack generically and insist on the canonical encoding."""
    try:
        value = msgspec.msgpack.decode(raw)
    except msgspec.DecodeError as exc:
        raise Refused(f"{what} does not decode") from exc
    if mp(value) != raw:
        raise Refused(f"{what} is not canonical")
    return value


def verify_ed25519(key: bytes, message: bytes, sig: bytes, what: str) -> None:
    try:
        Ed25519PublicKey.from_public_bytes(key).verify(sig, message)
    except (InvalidSignature, ValueError) as exc:
        raise Refused(f"{what}: bad signature") from exc


def proof(doc: dict[str, Any], leaf: bytes, what: str) -> bytes:
    try:
        return ref.check_proof(doc, leaf)
    except (ValueError, KeyError) as exc:
        raise Refused(f"{what}: bad proof") from exc


def state(app_hash: bytes, store: str, key: bytes, value: bytes, ops: Any, what: str) -> Any:
    try:
        ref.check_state_proof(app_hash, store, key, value, ops)
    except (ValueError, KeyError) as exc:
        raise Refused(f"{what} is not in the app hash") from exc
    doc = decode(value, what)
    if not isinstance(doc, dict):
        raise Refused(f"{what} is not a map struct")
    return doc


def solo_block_hash(h: dict[str, Any]) -> bytes:
    """Section 10.1."""
    b = bytes.fromhex
    fields = [h["chain_id"], h["height"], h["time_ms"], b(h["prev_hash"]), b(h["tx_root"])]
    fields += [b(h["results_hash"]), b(h["app_hash"]), b(h["proposer"])]
    tag = b"carchain/block-header/v1"
    return sha256(u16be(len(tag)) + tag + mp(fields))


def check_block(bundle: dict[str, Any], own_copy: dict[str, Any]) -> dict[str, Any]:
    block = bundle["block"]
    if block["engine"] != "solo":
        raise Refused("this reference verifier knows solo blocks only")
    digest = solo_block_hash(block["header"])
    if digest.hex() != block["hash"] or digest != solo_block_hash(own_copy["header"]):
        raise Refused("block is not the trusted one")
    if block["header"]["height"] != bundle["state"]["height"]:
        raise Refused("bundle proven at another height")
    return dict(block["header"])


def check_batch(bundle: dict[str, Any]) -> tuple[list[Any], bytes, bytes, list[Any]]:
    """Section 11 link 2: each projection in its segment's salted root (sections 6.2-6.5)."""
    raw_header = bytes.fromhex(bundle["batch_header"])
    header, signature = decode(raw_header, "batch header")
    if len(header) != 10 or header[0] != 2:
        raise Refused("not a v2 batch header")
    segments = {seg[0]: seg for seg in header[7]}
    projections = []
    for item in bundle["projections"]:
        seg = segments.get(item["category"])
        if seg is None:
            raise Refused("no segment of that category")
        raw, salt = bytes.fromhex(item["projection"]), bytes.fromhex(item["salt"])
        kind, index, fields = decode(raw, "projection")
        if index != bundle["record_index"] or len(salt) != 16 or not fields:
            raise Refused("projection of another record, or a bad salt")
        if item["proof"]["total"] != seg[1]:
            raise Refused("projection proof size differs from the segment's count")
        if proof(item["proof"], salt + raw, "projection in segment") != seg[2]:
            raise Refused("record is not in the batch")
        projections.append([kind, index, fields])
    if len({p[0] for p in projections}) != 1:
        raise Refused("projections of different kinds")
    return header, signature, raw_header, projections


def check_vehicle_key(bundle: dict[str, Any], app_hash: bytes, header: list[Any]) -> Any:
    s, vid = bundle["state"], header[1].encode()
    key = bytes.fromhex(s["vehicle_key"])
    vehicle = state(
        app_hash, "vehicles", key, bytes.fromhex(s["vehicle_value"]), s["vehicle_proof"], "vehicle"
    )
    if list(vehicle) != VEHICLE_FIELDS or vehicle["vehicle_id"] != header[1] or key != b"v/" + vid:
        raise Refused("vehicle registration is for another vehicle")
    pkey = bytes.fromhex(s["key_period_key"])
    period = state(
        app_hash,
        "vehicles",
        pkey,
        bytes.fromhex(s["key_period_value"]),
        s["key_period_proof"],
        "key period",
    )
    if pkey != b"keys/" + vid + b"/" + u64be(period["key_version"]):
        raise Refused("key period is for another vehicle or version")
    return vehicle, period


def check_signature(header: list[Any], signature: bytes, period: dict[str, Any]) -> None:
    verify_ed25519(
        period["public_key"],
        b"carchain/batch-header/v2\x00" + mp(header),
        signature,
        "batch header",
    )
    start_ms, end_ms = header[4], header[5]
    if period["key_version"] > 1 and period["since_ms"] > end_ms:
        raise Refused("key rotated in after the batch")
    if period["until_ms"] and period["until_ms"] <= start_ms:
        raise Refused("key rotated out before the batch")


def check_anchor(
    bundle: dict[str, Any],
    block: dict[str, Any],
    header: list[Any],
    raw_header: bytes,
    vehicle: Any,
) -> None:
    gateway_root = proof(bundle["batch_proof"], raw_header, "batch in gateway root")
    env = decode(bytes.fromhex(bundle["anchor_tx"]), "anchor tx")
    version, chain_id, signer, _nonce, tx_type, body_raw, sig = env
    verify_ed25519(signer, b"carchain/tx/v1\x00" + mp(env[:6]), sig, "anchor tx")
    body = decode(body_raw, "anchor body")
    if version != 1 or tx_type != "anchor.submit" or list(body) != ANCHOR_BODY:
        raise Refused("not an anchor transaction")
    if chain_id != block["chain_id"] or body["root"] != gateway_root:
        raise Refused("anchor is for another chain or root")
    if body["batch_count"] != bundle["batch_proof"]["total"]:
        raise Refused("anchor's batch count differs")
    if not body["start_ms"] <= header[4] <= header[5] <= body["end_ms"]:
        raise Refused("batch outside the anchor's time range")
    s = bundle["state"]
    key = bytes.fromhex(s["anchor_key"])
    anchor = state(
        bytes.fromhex(block["app_hash"]),
        "anchors",
        key,
        bytes.fromhex(s["anchor_value"]),
        s["anchor_proof"],
        "anchor",
    )
    if key != b"a/" + anchor["oem"].encode() + b"/" + u64be(anchor["seq"]):
        raise Refused("anchor key does not match")
    # Stricter than link 8 requires (section 12): all seven body fields, as recorded.
    if [anchor[f] for f in ANCHOR_BODY] != [body[f] for f in ANCHOR_BODY]:
        raise Refused("anchor on chain differs from the transaction")
    if (
        anchor["signer"] != signer
        or anchor["oem"] != vehicle["oem"]
        or anchor["height"] > s["height"]
    ):
        raise Refused("anchor by someone else or too new")


def verify(bundle: dict[str, Any], own_copy: dict[str, Any]) -> dict[str, Any]:
    """Section 11, links 1-8; return the decoded record."""
    if bundle["format"] != "carchain/record-proof/v3":
        raise Refused("unknown format")
    block = check_block(bundle, own_copy)
    app_hash = bytes.fromhex(block["app_hash"])
    header, signature, raw_header, projections = check_batch(bundle)
    vehicle, period = check_vehicle_key(bundle, app_hash, header)
    check_signature(header, signature, period)
    check_anchor(bundle, block, header, raw_header, vehicle)
    fields: dict[str, Any] = {}
    for p in projections:
        fields.update(p[2])
    return {"kind": projections[0][0], "fields": fields, "vehicle": header[1]}


def test_genuine_bundle_verifies_from_the_page_alone(proven: Bundle) -> None:
    bundle, own = proven
    out = verify(copy.deepcopy(bundle), own)
    assert out["vehicle"] == "saic:car-1" and out["kind"] == "edr"
    assert out["fields"]["max_delta_v_long_kmh"] == -12.5


def flip(hex_value: str, index: int = -1) -> str:
    raw = bytearray(bytes.fromhex(hex_value))
    raw[index] ^= 1
    return raw.hex()


@pytest.mark.parametrize(
    ("path", "index"),
    [
        (("projections", 0, "projection"), 5),
        (("projections", 0, "salt"), 3),
        (("batch_header",), -1),
        (("anchor_tx",), -1),
        (("state", "vehicle_value"), -1),
        (("state", "key_period_value"), -1),
        (("state", "anchor_value"), -1),
        (("block", "header", "app_hash"), 0),
        (("block", "header", "tx_root"), 3),
    ],
)
def test_invalid_tampered_bundle_is_refused_by_the_page_verifier(
    proven: Bundle, path: tuple[str, ...], index: int
) -> None:
    bundle, own = copy.deepcopy(proven)
    doc: Any = bundle
    for part in path[:-1]:
        doc = doc[part]
    doc[path[-1]] = flip(doc[path[-1]], index)
    with pytest.raises(Refused):
        verify(bundle, own)
