"""A signed, verifiable export of a vehicle's access log (``carchain/access-log-export/v1``).

The file holds a contiguous range of the log (``to_seq`` down to ``from_seq``,
newest first), read at ONE state height: each entry's record with its state
proof, the proven size counter (so a range ending at ``size - 1`` is provably
the newest, and ``0 .. size - 1`` the whole log), the vehicle's registration
(proven: it names the owner), the block section whose app hash the proofs
check against (every header field, so its hash is recomputed; see
``carchain.sdk.bundle_block``), the exporter's public key and its Ed25519
signature over ``EXPORT_DOMAIN || msgpack([...])`` (``compute_export_signing_bytes``).

Verification (``verify_access_log_export``) trusts the block only through the
caller's ``BlockTrust``, and refuses the file if the signature is not the
vehicle's owner's, a proof fails, or the seqs are not exactly the claimed range.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from carchain.core import access_log as log
from carchain.core.vehicles import STORE as VEHICLES_STORE
from carchain.core.vehicles import Vehicle, compute_vehicle_key
from carchain.crypto.signing import SigningKey, verify_signature
from carchain.errors import InvalidProof, MalformedBundle, Unauthorized
from carchain.sdk.access_log import (
    decode_proven,
    parse_int_field,
    verify_access_log_page,
    verify_event,
    verify_size,
)
from carchain.sdk.bundle_block import (
    BlockTrust,
    compute_block_section_hash,
    validate_state_height,
    verify_bundle_block,
)
from carchain.sdk.bundle_format import U63
from carchain.sdk.client import Client
from carchain.sdk.proofs import verify_state_proof
from carchain.sdk.record_proofs import build_block_section

EXPORT_FORMAT = "carchain/access-log-export/v1"
EXPORT_DOMAIN = EXPORT_FORMAT.encode() + b"\x00"
EXPORT_PAGE = log.MAX_PAGE


class ProvenJson(msgspec.Struct, forbid_unknown_fields=True):
    """A proven state value as the API returns it (hex key and value, two proof ops)."""

    key: str
    value: str
    proof: list[dict[str, Any]]


class ExportEntry(msgspec.Struct, forbid_unknown_fields=True):
    """One event of the export: its seq and its proven record."""

    seq: U63
    key: str
    value: str
    proof: list[dict[str, Any]]


class AccessLogExport(msgspec.Struct, forbid_unknown_fields=True):
    """The export file's JSON shape."""

    format: str
    chain_id: str
    vehicle_id: str
    height: U63
    proof_height: U63
    app_hash: str
    size: U63
    size_proof: ProvenJson | None
    from_seq: U63 | None
    to_seq: U63 | None
    events: list[ExportEntry]
    vehicle: ProvenJson
    block: dict[str, Any]
    exporter: str
    signature: str


@dataclass(frozen=True, slots=True)
class VerifiedExport:
    """What a successful verification established."""

    vehicle_id: str
    chain_id: str
    size: int
    from_seq: int | None
    to_seq: int | None
    events: list[log.AccessEvent]
    height: int
    app_hash: bytes
    block_hash: bytes
    exporter: bytes
    trusted_by: tuple[str, ...]

    @property
    def is_complete(self) -> bool:
        """Return whether the range is the whole log at that height."""
        return self.size == 0 or (self.from_seq == 0 and self.to_seq == self.size - 1)


def _hex(value: str, what: str) -> bytes:
    try:
        return bytes.fromhex(value)
    except ValueError as exc:
        raise MalformedBundle(f"export field {what} is not hex") from exc


def compute_export_signing_bytes(doc: AccessLogExport, block_hash: bytes) -> bytes:
    """Return the bytes the exporter signs: the domain tag, then the msgpack array
    ``[chain_id, vehicle_id, height, proof_height, app_hash, block_hash, size,
    from_seq, to_seq, [[seq, key, value], ...], exporter]`` (absent seqs as -1)."""
    entries = [[e.seq, _hex(e.key, "key"), _hex(e.value, "value")] for e in doc.events]
    payload = [
        doc.chain_id,
        doc.vehicle_id,
        doc.height,
        doc.proof_height,
        _hex(doc.app_hash, "app_hash"),
        block_hash,
        doc.size,
        -1 if doc.from_seq is None else doc.from_seq,
        -1 if doc.to_seq is None else doc.to_seq,
        entries,
        _hex(doc.exporter, "exporter"),
    ]
    return EXPORT_DOMAIN + msgspec.msgpack.encode(payload)


def collect_pages(
    client: Client, vehicle_id: str, before: int | None, limit: int, all_pages: bool
) -> list[dict[str, Any]]:
    """Return the page documents of the range, each verified, all at the first's height."""
    limit = EXPORT_PAGE if all_pages else limit
    docs = [client.access_log_doc(vehicle_id, before, limit)]
    app_hash = client.get_header_app_hash(docs[0])
    page = verify_access_log_page(docs[0], vehicle_id, app_hash, before, limit)
    while all_pages and page.next_before is not None:
        cursor = page.next_before
        docs.append(client.access_log_doc(vehicle_id, cursor, limit, page.height))
        page = verify_access_log_page(docs[-1], vehicle_id, app_hash, cursor, limit)
    return docs


def get_owned_vehicle_proof(
    client: Client, key: SigningKey, vehicle_id: str, height: int, app_hash: bytes
) -> ProvenJson:
    """Return the proven registration at ``height``; ``Unauthorized`` unless ``key`` owns it."""
    vkey = compute_vehicle_key(vehicle_id)
    vq = client.query(VEHICLES_STORE, vkey, prove=True, height=height)
    proven = msgspec.convert({f: vq.get(f) for f in ("key", "value", "proof")}, ProvenJson)
    if parse_int_field(vq, "height") != height:
        raise InvalidProof("the node's vehicle proof is not at the page's height")
    value = _hex(proven.value, "vehicle value")
    verify_state_proof(app_hash, VEHICLES_STORE, vkey, value, proven.proof)
    if decode_proven(value, Vehicle, "vehicle registration").owner != key.public_key:
        raise Unauthorized(
            "only the vehicle's owner signs its access-log export", vehicle_id=vehicle_id
        )
    return ProvenJson(vkey.hex(), proven.value, proven.proof)


def build_access_log_export(
    client: Client,
    key: SigningKey,
    vehicle_id: str,
    before: int | None = None,
    limit: int = 20,
    all_pages: bool = False,
    rpc_url: str | None = None,
) -> dict[str, Any]:
    """Return the signed export of one page (or, with ``all_pages``, every older one too).

    Every page is verified first; only the vehicle's current owner (at the page's
    height) may sign; a malformed node answer raises ``InvalidProof``.
    """
    try:
        doc, block_hash = _assemble_export(
            client, key, vehicle_id, before, limit, all_pages, rpc_url
        )
    except (KeyError, TypeError, ValueError) as exc:  # msgspec's errors are ValueErrors
        raise InvalidProof(f"the node's answer is malformed: {type(exc).__name__}") from exc
    signature = key.sign(compute_export_signing_bytes(doc, block_hash))
    out: dict[str, Any] = msgspec.to_builtins(
        msgspec.structs.replace(doc, signature=signature.hex())
    )
    return out


def _assemble_export(
    client: Client,
    key: SigningKey,
    vehicle_id: str,
    before: int | None,
    limit: int,
    all_pages: bool,
    rpc_url: str | None,
) -> tuple[AccessLogExport, bytes]:
    docs = collect_pages(client, vehicle_id, before, limit, all_pages)
    first, height = docs[0], int(docs[0]["height"])
    app_hash = bytes.fromhex(str(first["app_hash"]))
    vehicle = get_owned_vehicle_proof(client, key, vehicle_id, height, app_hash)
    proof_height = int(first.get("proof_height") or height)
    block = build_block_section(client, proof_height, rpc_url)
    parsed, block_hash = compute_block_section_hash(block)
    if parsed.app_hash != app_hash:
        raise InvalidProof("the block's app hash is not the page's", height=proof_height)
    entries = [e["record"] | {"seq": e["seq"]} for d in docs for e in d["events"]]
    seqs = [int(e["seq"]) for e in entries]
    doc = AccessLogExport(
        EXPORT_FORMAT,
        str(client.status()["chain_id"]),
        vehicle_id,
        height,
        proof_height,
        app_hash.hex(),
        int(first["size"]),
        msgspec.convert(first["size_proof"], ProvenJson | None),
        seqs[-1] if seqs else None,
        seqs[0] if seqs else None,
        [msgspec.convert(e, ExportEntry) for e in entries],
        vehicle,
        block,
        key.public_key.hex(),
        "",
    )
    return doc, block_hash


def parse_export(doc: Any) -> AccessLogExport:
    """Return the export's strict shape; ``MalformedBundle`` for any defect."""
    try:
        parsed = msgspec.convert(doc, AccessLogExport)
    except msgspec.ValidationError as exc:
        raise MalformedBundle(f"not an access-log export: {str(exc)[:200]}") from exc
    if parsed.format != EXPORT_FORMAT:
        raise MalformedBundle("export format must be " + EXPORT_FORMAT)
    return parsed


def check_export_block(doc: AccessLogExport, trust: BlockTrust) -> tuple[bytes, tuple[str, ...]]:
    """Return the block hash and trust statements once the block is vouched for and is
    the one the export names (chain, height, app hash)."""
    block = verify_bundle_block(doc.block, trust)
    if block.chain_id != doc.chain_id or block.height != doc.proof_height:
        raise InvalidProof("export names another chain or height than its block", link="block")
    if block.app_hash.hex() != doc.app_hash.lower():
        raise InvalidProof("export's app hash is not its block's", link="block")
    validate_state_height(block, doc.height, doc.proof_height)
    return block.hash, tuple(block.trusted_by)


def check_exporter_is_owner(doc: AccessLogExport, app_hash: bytes) -> bytes:
    """Return the exporter's key once the proven registration names it the owner."""
    key = compute_vehicle_key(doc.vehicle_id)
    value = _hex(doc.vehicle.value, "vehicle value")
    if _hex(doc.vehicle.key, "vehicle key") != key:
        raise InvalidProof("export proves another vehicle's registration", link="vehicle")
    verify_state_proof(app_hash, VEHICLES_STORE, key, value, doc.vehicle.proof)
    vehicle = decode_proven(value, Vehicle, "vehicle registration")
    exporter = _hex(doc.exporter, "exporter")
    if vehicle.vehicle_id != doc.vehicle_id or vehicle.owner != exporter:
        raise InvalidProof("exporter is not the vehicle's owner at that height", link="owner")
    return exporter


def check_range(doc: AccessLogExport, size: int) -> list[int]:
    """Return the claimed seqs once the entries are exactly them, newest first, in the log."""
    if (doc.from_seq is None) != (doc.to_seq is None):
        raise InvalidProof("export range must name both ends or neither")
    if doc.from_seq is None or doc.to_seq is None:
        expected: list[int] = []
    elif not 0 <= doc.from_seq <= doc.to_seq < size:
        raise InvalidProof("export range lies outside the proven log", total=size)
    else:
        expected = list(range(doc.to_seq, doc.from_seq - 1, -1))
    if [e.seq for e in doc.events] != expected:
        raise InvalidProof("entries are not the claimed range, contiguous and newest first")
    return expected


def verify_access_log_export(raw: Any, trust: BlockTrust) -> VerifiedExport:
    """Check an export offline; raise the typed error of the first failed check."""
    doc = parse_export(raw)
    block_hash, trusted_by = check_export_block(doc, trust)
    exporter = _hex(doc.exporter, "exporter")
    verify_signature(
        exporter, compute_export_signing_bytes(doc, block_hash), _hex(doc.signature, "signature")
    )
    app_hash = _hex(doc.app_hash, "app_hash")
    check_exporter_is_owner(doc, app_hash)
    size_doc = {"size": doc.size, "size_proof": msgspec.to_builtins(doc.size_proof)}
    size = verify_size(app_hash, size_doc, log.compute_log_size_key(doc.vehicle_id), required=True)
    seqs = check_range(doc, size)
    events = [
        verify_event(app_hash, msgspec.to_builtins(e), doc.vehicle_id, s)
        for e, s in zip(doc.events, seqs, strict=True)
    ]
    return VerifiedExport(
        doc.vehicle_id,
        doc.chain_id,
        size,
        doc.from_seq,
        doc.to_seq,
        events,
        doc.height,
        app_hash,
        block_hash,
        exporter,
        trusted_by,
    )


__all__ = [
    "EXPORT_DOMAIN",
    "EXPORT_FORMAT",
    "AccessLogExport",
    "VerifiedExport",
    "build_access_log_export",
    "verify_access_log_export",
]
