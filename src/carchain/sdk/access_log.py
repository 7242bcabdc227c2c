"""Checking a node's access-log pages: every entry proven, and no entry left out.

The node answers a page with the log's size and each entry's state proof at one
height (``GET /vehicles/{id}/access-log``, ``GET /oems/{oem}/access-log``). A page
is accepted only if the size and every entry verify against the app hash of the
header at ``proof_height`` and the entries are exactly the seqs below ``before``
of that size, so a node can neither forge an event nor hide one from a page. A
log that was never written has no key to prove (state proves no absence): an
empty answer is taken as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from carchain.core.access_log import (
    STORE,
    AccessEvent,
    OemLogPointer,
    compute_log_key,
    compute_oem_log_key,
    compute_page_seqs,
)
from carchain.errors import InvalidProof
from carchain.sdk.proofs import verify_state_proof

# Returns the app hash of the block header at a height (from the node, or a light client).
AppHashAt = Callable[[int], bytes]
_MALFORMED = (KeyError, TypeError, ValueError, OverflowError, msgspec.DecodeError)


def _get_size(doc: dict[str, Any]) -> int:
    size = doc["size"]
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size < 2**63:
        raise ValueError("size is not a count")
    return size


def _verify_entry(app_hash: bytes, key: bytes, entry: dict[str, Any]) -> bytes:
    value = bytes.fromhex(entry["value"])
    if bytes.fromhex(entry["key"]) != key:
        raise InvalidProof("an access-log entry is not under the key it claims")
    verify_state_proof(app_hash, STORE, key, value, entry["proof"])
    return value


def verify_size(app_hash_at: AppHashAt, doc: dict[str, Any], size_key: bytes) -> bytes:
    """Return the app hash the page is proven against after checking the log size's proof."""
    app_hash = app_hash_at(int(doc["proof_height"]))
    entry = {"key": size_key.hex(), "value": _get_size(doc).to_bytes(8, "big").hex()}
    _verify_entry(app_hash, size_key, {**entry, "proof": doc["size_proof"]})
    return app_hash


def verify_event(app_hash: bytes, vehicle_id: str, seq: int, entry: dict[str, Any]) -> AccessEvent:
    """Return the vehicle's ``seq``-th event after checking its proof."""
    value = _verify_entry(app_hash, compute_log_key(vehicle_id, seq), entry)
    event = msgspec.msgpack.decode(value, type=AccessEvent)
    if (event.vehicle_id, event.seq) != (vehicle_id, seq):
        raise InvalidProof("an access-log event is not the one its key names")
    return event


def verify_vehicle_page(
    app_hash_at: AppHashAt, doc: dict[str, Any], size_key: bytes, vehicle_id: str,
    before: int | None, limit: int,
) -> tuple[list[AccessEvent], int | None]:  # fmt: skip
    """Return a vehicle page's events and the next cursor; raise ``InvalidProof`` if off."""
    try:
        entries, size = list(doc["events"]), _get_size(doc)
        seqs = compute_page_seqs(size, before, limit)
        if size == 0 and not entries:
            return [], None
        if len(entries) != len(seqs):
            raise InvalidProof("the node left events out of the access-log page")
        app_hash = verify_size(app_hash_at, doc, size_key)
        events = [
            verify_event(app_hash, vehicle_id, s, e) for s, e in zip(seqs, entries, strict=True)
        ]
    except _MALFORMED as exc:
        raise InvalidProof(f"malformed node answer: {type(exc).__name__}") from exc
    return events, (seqs[-1] or None) if seqs else None


def verify_oem_page(
    app_hash_at: AppHashAt, doc: dict[str, Any], size_key: bytes, oem: str,
    before: int | None, limit: int,
) -> tuple[list[tuple[int, AccessEvent]], int | None]:  # fmt: skip
    """Return an OEM page's (OEM seq, event) pairs and the cursor; ``InvalidProof`` if off."""
    try:
        entries, size = list(doc["events"]), _get_size(doc)
        oseqs = compute_page_seqs(size, before, limit)
        if size == 0 and not entries:
            return [], None
        if len(entries) != len(oseqs):
            raise InvalidProof("the node left events out of the access-log page")
        app_hash = verify_size(app_hash_at, doc, size_key)
        out = []
        for oseq, entry in zip(oseqs, entries, strict=True):
            raw = _verify_entry(app_hash, compute_oem_log_key(oem, oseq), entry["pointer"])
            ptr = msgspec.msgpack.decode(raw, type=OemLogPointer)
            out.append((oseq, verify_event(app_hash, ptr.vehicle_id, ptr.seq, entry)))
    except _MALFORMED as exc:
        raise InvalidProof(f"malformed node answer: {type(exc).__name__}") from exc
    return out, (oseqs[-1] or None) if oseqs else None
