"""Checking an access-log page the node served: every entry against the page's app hash.

The checks trust nothing of the page but the app hash they are given (the caller
gets it from a block header it trusts): each entry's record is proven under the
app hash at the key the caller derives itself, the size counter too, and the
seqs must be exactly the ones the caller asked for (newest first, none left
out, none added). Any failure raises ``InvalidProof``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec

from carchain.core import access_log as log
from carchain.core.vehicles import compute_vehicle_namespace
from carchain.errors import CarchainError, InvalidProof
from carchain.sdk.proofs import verify_state_proof

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class AccessLogPage:
    """A verified page: events newest first (``oem_seqs`` beside them for an OEM page)."""

    owner_id: str  # the vehicle id, or the OEM's member id
    events: list[log.AccessEvent]
    size: int
    next_before: int | None
    height: int
    proof_height: int
    app_hash: bytes
    oem_seqs: list[int] | None = None
    # Always True for a verified page: a vehicle's counter is written at its
    # registration and a member's at its admission, so a page must prove its size.
    size_proven: bool = True


def parse_hex_field(doc: Any, name: str) -> bytes:
    """Return a hex field of a JSON object; ``InvalidProof`` if absent or not hex."""
    value = doc.get(name) if isinstance(doc, dict) else None
    if not isinstance(value, str):
        raise InvalidProof(f"field {name!r} is missing or not a string")
    try:
        return bytes.fromhex(value)
    except ValueError as exc:
        raise InvalidProof(f"field {name!r} is not hex") from exc


def parse_int_field(doc: Any, name: str, optional: bool = False) -> int | None:
    """Return a non-negative integer field (``None`` allowed when ``optional``)."""
    value = doc.get(name) if isinstance(doc, dict) else None
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise InvalidProof(f"field {name!r} is missing or not a non-negative integer")
    return value


def verify_proven_value(app_hash: bytes, proven: Any, key: bytes) -> bytes:
    """Return the value of ``access/key`` once its proof checks under ``app_hash``."""
    if parse_hex_field(proven, "key") != key:
        raise InvalidProof("entry is proven at another key than expected", value=key.hex())
    value = parse_hex_field(proven, "value")
    proof = proven.get("proof")
    if not isinstance(proof, list):
        raise InvalidProof("entry proof is not a list")
    verify_state_proof(app_hash, log.STORE, key, value, proof)
    return value


def decode_proven(raw: bytes, kind: type[T], what: str) -> T:
    """Decode a proven msgpack record; ``InvalidProof`` if it is not one."""
    try:
        return msgspec.msgpack.decode(raw, type=kind)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise InvalidProof(f"{what} does not decode") from exc


def verify_size(app_hash: bytes, doc: dict[str, Any], key: bytes, required: bool = False) -> int:
    """Return the proven log size (0 when the counter was never written, unless
    ``required``: a vehicle's counter is written at its registration, a member's
    OEM-log counter at its admission)."""
    stated = parse_int_field(doc, "size")
    proven = doc.get("size_proof")
    if proven is None:
        if required:
            raise InvalidProof("a vehicle's log must prove its size, even an empty one's")
        if stated != 0:
            raise InvalidProof("a non-empty log must prove its size")
        return 0
    raw = verify_proven_value(app_hash, proven, key)
    if len(raw) != 8 or int.from_bytes(raw, "big") != stated:
        raise InvalidProof("stated size differs from the proven size counter")
    return int.from_bytes(raw, "big")


def verify_event(app_hash: bytes, proven: Any, vehicle_id: str, seq: int) -> log.AccessEvent:
    """Return the ``seq``-th event of the vehicle once its record is proven."""
    raw = verify_proven_value(app_hash, proven, log.compute_log_key(vehicle_id, seq))
    event = decode_proven(raw, log.AccessEvent, "access event")
    if event.seq != seq or event.vehicle_id != vehicle_id:
        raise InvalidProof("event record names another vehicle or seq", index=seq)
    return event


def _get_entries(doc: dict[str, Any], seqs: list[int], field: str) -> list[dict[str, Any]]:
    entries = doc.get("events")
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise InvalidProof("page events are not a list of objects")
    got = [parse_int_field(e, field) for e in entries]
    if got != seqs:
        raise InvalidProof("page does not hold exactly the entries asked for, newest first")
    return entries


def _get_heights(doc: dict[str, Any]) -> tuple[int, int]:
    height = parse_int_field(doc, "height") or 0
    proof_height = parse_int_field(doc, "proof_height", optional=True)
    if proof_height is None:
        proof_height = height
    if proof_height not in (height, height + 1):
        raise InvalidProof("proof height is neither the state height nor the next")
    return height, proof_height


def _page_seqs(size: int, before: int | None, limit: int) -> list[int]:
    try:
        return log.compute_page_seqs(size, before, limit)
    except CarchainError as exc:
        raise InvalidProof(f"page parameters: {exc.message}") from exc


def verify_access_log_page(
    doc: Any, vehicle_id: str, app_hash: bytes, before: int | None, limit: int
) -> AccessLogPage:
    """Return the vehicle's page once every entry is proven under ``app_hash``."""
    if not isinstance(doc, dict):
        raise InvalidProof("page is not a JSON object")
    size = verify_size(app_hash, doc, log.compute_log_size_key(vehicle_id), required=True)
    seqs = _page_seqs(size, before, limit)
    entries = _get_entries(doc, seqs, "seq")
    events = [
        verify_event(app_hash, e.get("record"), vehicle_id, s)
        for e, s in zip(entries, seqs, strict=True)
    ]
    height, proof_height = _get_heights(doc)
    proven = doc.get("size_proof") is not None
    return AccessLogPage(
        vehicle_id, events, size, _next_before(seqs), height, proof_height, app_hash, None, proven
    )


def verify_oem_entry(
    app_hash: bytes, entry: dict[str, Any], oem: str, oseq: int
) -> log.AccessEvent:
    """Return the event an OEM's ``oseq``-th pointer names, pointer and event proven."""
    raw = verify_proven_value(app_hash, entry.get("pointer"), log.compute_oem_log_key(oem, oseq))
    ptr = decode_proven(raw, log.OemLogPointer, "access-log pointer")
    if compute_vehicle_namespace(ptr.vehicle_id) != oem:
        raise InvalidProof("pointer names a vehicle of another OEM", vehicle_id=ptr.vehicle_id)
    return verify_event(app_hash, entry.get("record"), ptr.vehicle_id, ptr.seq)


def verify_oem_access_log_page(
    doc: Any, oem: str, app_hash: bytes, before: int | None, limit: int
) -> AccessLogPage:
    """Return the OEM's page once every pointer and event is proven under ``app_hash``."""
    if not isinstance(doc, dict):
        raise InvalidProof("page is not a JSON object")
    size = verify_size(app_hash, doc, log.compute_oem_log_size_key(oem), required=True)
    seqs = _page_seqs(size, before, limit)
    entries = _get_entries(doc, seqs, "oem_seq")
    events = [verify_oem_entry(app_hash, e, oem, s) for e, s in zip(entries, seqs, strict=True)]
    height, proof_height = _get_heights(doc)
    proven = doc.get("size_proof") is not None
    return AccessLogPage(
        oem, events, size, _next_before(seqs), height, proof_height, app_hash, seqs, proven
    )


def _next_before(seqs: list[int]) -> int | None:
    return seqs[-1] if seqs and seqs[-1] > 0 else None
