"""The records of an evidence bundle and their proofs: record -> batch -> anchor -> app hash.

Each decrypted segment the officer holds is two files: ``records/<vehicle>/<header
hash>-<category>.json`` (the decrypted records as ``carchain case fetch`` wrote them: a
list of ``{"kind", "index", "fields"}``) and ``proofs/<vehicle>/<header hash>-<category>.json``
(every leaf of the segment's tree: salt and encoded projection; the signed batch header;
its proof to the gateway root; the anchor transaction; the state proofs of the anchor,
the vehicle and the key period that signed the batch). The whole segment is proven,
not one record: its root and count are in the signed batch header, so a record left
out, added or changed breaks the ``record->batch`` link. The later links reuse the
checks of ``carchain.sdk.record_proofs`` (same order, same rules).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from carchain.core.anchors import STORE as ANCHORS_STORE
from carchain.core.anchors import compute_anchor_key
from carchain.core.vehicles import STORE as VEHICLES_STORE
from carchain.core.vehicles import (
    KeyPeriod,
    compute_key_period_key,
    compute_vehicle_key,
    get_key_history,
)
from carchain.crypto.kdf import LEAF_SALT_SIZE, compute_leaf_salt
from carchain.crypto.merkle import compute_merkle_root
from carchain.data.batches import (
    BatchHeader,
    SignedBatchHeader,
    compute_header_hash,
    decode_signed_header,
    get_segment,
    verify_header_signature,
)
from carchain.data.projections import (
    Projection,
    compute_projection_doc,
    decode_projection,
    encode_projection,
    parse_projection_doc,
)
from carchain.errors import CarchainError, InvalidProof
from carchain.sdk.bundle_format import ParsedBundle
from carchain.sdk.chainview import ChainView
from carchain.sdk.client import Client
from carchain.sdk.evidence_manifest import fail
from carchain.sdk.record_proofs import (
    check_anchor_covers_batch,
    check_anchor_in_state,
    check_anchor_tx,
    check_batch_in_gateway_root,
    check_batch_signature,
    check_key_period,
    check_vehicle_registration,
)

LINK_RECORD = "record->batch"
LINK_BATCH = "batch->anchor"
LINK_ANCHOR = "anchor->app hash"


@dataclass(frozen=True, slots=True)
class ProvenSegment:
    """A segment whose records were proven down to the app hash."""

    vehicle_id: str
    header_hash: bytes
    category: str
    header: BatchHeader
    leaves: list[bytes]
    indices: frozenset[int]

    @property
    def records(self) -> int:
        """Return how many records the segment holds a projection of."""
        return len(self.indices)


def compute_record_doc(projections: list[Projection]) -> list[dict[str, Any]]:
    """Return the decrypted-records document of a segment (as ``case fetch`` writes it:
    byte strings as hex)."""
    return [compute_projection_doc(p) for p in projections]


def parse_record_doc(doc: Any, category: str) -> list[Projection]:
    """Return the projections a decrypted-records document holds; ``ValueError`` if bad."""
    if not isinstance(doc, list):
        raise ValueError("a records file must be a list")
    return [parse_projection_doc(p) for p in doc]


# --- building ----------------------------------------------------------------------------


def find_key_version(
    client: Client, signed: SignedBatchHeader, history: list[KeyPeriod] | None = None
) -> int:
    """Return the version of the vehicle key that signed the batch (newest first);
    ``history`` is the vehicle's key history if the caller has read it already."""
    vid = signed.header.vehicle_id
    periods = get_key_history(ChainView(client), vid) if history is None else history
    for period in reversed(periods):
        try:
            verify_header_signature(signed, period.public_key)
        except CarchainError:
            continue
        return period.key_version
    raise InvalidProof("no key the vehicle ever had signed this batch", vehicle_id=vid)


def read_proven(client: Client, store: str, key: bytes, height: int) -> dict[str, Any]:
    """Return ``{key, value, proof}`` of one state key read at state ``height``."""
    doc = client.query(store, key, prove=True, height=height)
    if doc.get("height") != height or not doc.get("value"):
        raise InvalidProof("the node answered for another height or no value", height=height)
    return {"key": key.hex(), "value": str(doc["value"]), "proof": doc["proof"]}


class StateReads:
    """The node reads of one export, each made once: a state key read at a fixed height
    (its value and proof cannot change) and a vehicle's key history (read once per
    export, as each segment of the vehicle would read it again)."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self._proven: dict[tuple[str, bytes, int], dict[str, Any]] = {}
        self._history: dict[str, list[KeyPeriod]] = {}

    def read_proven(self, store: str, key: bytes, height: int) -> dict[str, Any]:
        """Return ``read_proven(client, store, key, height)``, read once (a copy each time)."""
        where = (store, key, height)
        if where not in self._proven:
            self._proven[where] = read_proven(self.client, store, key, height)
        return dict(self._proven[where])

    def find_key_version(self, signed: SignedBatchHeader) -> int:
        """Return ``find_key_version`` over the vehicle's key history, read once."""
        vid = signed.header.vehicle_id
        if vid not in self._history:
            self._history[vid] = get_key_history(ChainView(self.client), vid)
        return find_key_version(self.client, signed, self._history[vid])


def build_segment_proof(
    category: str,
    projections: list[Projection],
    segment_key: bytes,
    batch_doc: Mapping[str, Any],
    client: Client,
    height: int,
    reads: StateReads | None = None,
) -> dict[str, Any]:
    """Return the proof file of one decrypted segment, its state proofs at ``height``.

    ``batch_doc`` is the gateway's batch proof; the projections must be the whole
    segment (its root is recomputed and compared with the signed header's). ``reads``
    shares the node reads between the segments of one export (default: none shared)."""
    reads = StateReads(client) if reads is None else reads
    signed = decode_signed_header(bytes.fromhex(str(batch_doc["batch_header"])))
    h = signed.header
    _validate_segment(h, category, projections, segment_key)
    leaves = [
        {
            "salt": compute_leaf_salt(segment_key, p.index).hex(),
            "projection": encode_projection(p).hex(),
        }
        for p in projections
    ]
    anchor = batch_doc["anchor"]
    akey = compute_anchor_key(str(anchor["oem"]), int(anchor["seq"]))
    pkey = compute_key_period_key(h.vehicle_id, reads.find_key_version(signed))
    return {
        "vehicle_id": h.vehicle_id,
        "category": category,
        "leaves": leaves,
        "batch_header": str(batch_doc["batch_header"]),
        "batch_proof": batch_doc["batch_proof"],
        "anchor_tx": str(anchor["tx"]),
        "state": {
            "anchor": reads.read_proven(ANCHORS_STORE, akey, height),
            "vehicle": reads.read_proven(VEHICLES_STORE, compute_vehicle_key(h.vehicle_id), height),
            "key_period": reads.read_proven(VEHICLES_STORE, pkey, height),
        },
    }


def _validate_segment(
    h: BatchHeader, category: str, projections: list[Projection], segment_key: bytes
) -> None:
    """Raise unless the projections (salted under the key) make the category's segment."""
    leaves = [compute_leaf_salt(segment_key, p.index) + encode_projection(p) for p in projections]
    s = get_segment(h, category)
    if s.records_root != compute_merkle_root(leaves) or s.count != len(leaves):
        raise InvalidProof(
            f"the decrypted {category} records of batch {h.vehicle_id}/{h.seq} do not make "
            "its segment in the signed batch header (incomplete or altered data directory)"
        )


# --- verifying ---------------------------------------------------------------------------


def _unhex(value: Any, link: str, what: str) -> bytes:
    try:
        return bytes.fromhex(str(value))
    except ValueError as exc:
        raise fail(link, f"{what} is not hex") from exc


def check_segment_records(
    proof: dict[str, Any], records: Any, vehicle_id: str, header_hash: bytes, category: str
) -> tuple[SignedBatchHeader, list[bytes], list[Projection]]:
    """Link ``record->batch``: the records file is exactly the segment whose leaves make
    the root and count the signed batch header states for the category."""
    raw_header = _unhex(proof.get("batch_header"), LINK_RECORD, "batch header")
    try:
        signed = decode_signed_header(raw_header)
        segment = get_segment(signed.header, category)
        leaves_doc = proof["leaves"]
        salts = [_unhex(x["salt"], LINK_RECORD, "salt") for x in leaves_doc]
        encoded = [_unhex(x["projection"], LINK_RECORD, "projection") for x in leaves_doc]
        projections = [decode_projection(e, category) for e in encoded]
    except (CarchainError, KeyError, TypeError) as exc:
        raise fail(LINK_RECORD, f"segment of {header_hash.hex()[:16]}…: {exc}") from exc
    h = signed.header
    if compute_header_hash(raw_header) != header_hash or h.vehicle_id != vehicle_id:
        raise fail(LINK_RECORD, "batch header is of another batch or vehicle than its file")
    if any(len(s) != LEAF_SALT_SIZE for s in salts) or len(salts) != segment.count:
        raise fail(LINK_RECORD, "segment's leaf count or salts differ from the batch header")
    leaves = [s + e for s, e in zip(salts, encoded, strict=True)]
    if compute_merkle_root(leaves) != segment.records_root:
        raise fail(LINK_RECORD, "records do not make the segment root in the batch header")
    expected = json.loads(json.dumps(compute_record_doc(projections)))
    if records != expected:
        raise fail(LINK_RECORD, "decrypted records differ from the proven segment")
    return signed, leaves, projections


def _parsed(proof: dict[str, Any], raw_header: bytes, height: int) -> ParsedBundle:
    """Return the record-proof view of a segment proof (for record_proofs' checks)."""
    try:
        s = proof["state"]
        a, v, k = s["anchor"], s["vehicle"], s["key_period"]
        return ParsedBundle(
            0, [], raw_header, proof["batch_proof"], bytes.fromhex(proof["anchor_tx"]), height,
            bytes.fromhex(a["key"]), bytes.fromhex(a["value"]), a["proof"],
            bytes.fromhex(v["key"]), bytes.fromhex(v["value"]), v["proof"],
            bytes.fromhex(k["key"]), bytes.fromhex(k["value"]), k["proof"], {},
        )  # fmt: skip
    except (KeyError, TypeError, ValueError) as exc:
        raise fail(LINK_ANCHOR, f"segment proof's state section is malformed: {exc}") from exc


def check_segment_anchored(
    proof: dict[str, Any], signed: SignedBatchHeader, app_hash: bytes, height: int, chain_id: str
) -> None:
    """Links ``batch->anchor`` (the header in the gateway root, the OEM-signed anchor
    transaction committing to it) and ``anchor->app hash`` (vehicle key, batch signature
    and anchor committed under the bundle's app hash)."""
    b = _parsed(proof, proof_header(proof), height)
    try:
        bproof = check_batch_in_gateway_root(b)
        env, body = check_anchor_tx(b, chain_id)
        check_anchor_covers_batch(body, bproof, signed.header)
    except InvalidProof as exc:
        raise fail(LINK_BATCH, exc.message) from exc
    try:
        vehicle = check_vehicle_registration(b, app_hash, signed.header.vehicle_id)
        period = check_key_period(b, app_hash, signed.header.vehicle_id)
        check_batch_signature(signed, period)
        check_anchor_in_state(b, app_hash, env, body, vehicle.oem)
    except InvalidProof as exc:
        raise fail(LINK_ANCHOR, exc.message) from exc


def proof_header(proof: dict[str, Any]) -> bytes:
    """Return a segment proof's signed batch header bytes."""
    return _unhex(proof.get("batch_header"), LINK_RECORD, "batch header")


def verify_segment(
    proof: Any, records: Any, where: tuple[str, bytes, str], app_hash: bytes, height: int,
    chain_id: str,
) -> ProvenSegment:  # fmt: skip
    """Check one segment: ``record->batch``, ``batch->anchor``, ``anchor->app hash``."""
    vehicle_id, header_hash, category = where
    if not isinstance(proof, dict):
        raise fail(LINK_RECORD, "a segment proof must be an object")
    if proof.get("vehicle_id") != vehicle_id or proof.get("category") != category:
        raise fail(LINK_RECORD, "segment proof is of another vehicle or category than its file")
    signed, leaves, ps = check_segment_records(proof, records, vehicle_id, header_hash, category)
    check_segment_anchored(proof, signed, app_hash, height, chain_id)
    indices = frozenset(p.index for p in ps)
    return ProvenSegment(vehicle_id, header_hash, category, signed.header, leaves, indices)
