"""A vehicle's access log: every grant, request, decision, release and receipt, with proofs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query

from carchain.api.deps import get_backend
from carchain.api.encoding import proof_json, to_jsonable
from carchain.core import access_log
from carchain.core.access_log import AccessEvent, OemLogPointer
from carchain.core.state import decode_record
from carchain.core.types import OK_RESULT_CODE
from carchain.core.validation import validate_member_identifier
from carchain.core.vehicles import validate_vehicle_id
from carchain.errors import make_error
from carchain.node.backend import NodeBackend

router = APIRouter(tags=["access"])


def _get_proven(backend: NodeBackend, key: bytes, height: int) -> dict[str, Any] | None:
    q = backend.query(access_log.STORE, key, True, height)
    if q.code != OK_RESULT_CODE or q.proof is None:
        return None
    return {"key": key.hex(), "value": q.value.hex(), "proof": proof_json(q.proof)}


def _get_head(backend: NodeBackend, size_key: bytes) -> dict[str, Any]:
    """Return the proven log size at the latest height (size 0, unproven, if never written)."""
    head = backend.query(access_log.STORE, size_key, True)
    if head.code != OK_RESULT_CODE and head.error_code != "not_found":
        raise make_error(head.error_code, head.log, head.fields)
    size = int.from_bytes(head.value, "big") if head.code == OK_RESULT_CODE else 0
    doc: dict[str, Any] = {"height": head.height, "size": size}
    if head.proof is not None:
        doc["app_hash"] = head.proof.app_hash.hex()
        anchor = backend.get_proof_app_hash_optional(head.height)
        if anchor is not None:
            doc["proof_height"] = anchor[0]
        if head.code == OK_RESULT_CODE:
            doc["size_proof"] = proof_json(head.proof)
    return doc


def _get_event_entry(
    backend: NodeBackend, vehicle_id: str, seq: int, height: int
) -> dict[str, Any] | None:
    proven = _get_proven(backend, access_log.compute_log_key(vehicle_id, seq), height)
    if proven is None:
        return None
    event = decode_record(bytes.fromhex(proven["value"]), AccessEvent)
    return {"event": to_jsonable(event), **proven}


def _compute_cursor(seqs: list[int]) -> int | None:
    return seqs[-1] if seqs and seqs[-1] else None


@router.get("/vehicles/{vehicle_id}/access-log")
def get_access_log(
    vehicle_id: str,
    backend: Annotated[NodeBackend, Depends(get_backend)],
    before: Annotated[int | None, Query(ge=0, lt=2**63)] = None,
    limit: Annotated[int, Query(ge=1, le=access_log.MAX_PAGE)] = 20,
) -> dict[str, Any]:
    """Return up to ``limit`` access-log events of a vehicle, newest first, below ``before``.

    Every event (and the log's size) comes with its state proof at one height:
    check each against the app hash of the header at ``proof_height``. Page on
    with ``before`` = the answer's ``next_before`` (``null`` at the oldest event).
    """
    validate_vehicle_id(vehicle_id)
    doc = {
        "vehicle_id": vehicle_id,
        **_get_head(backend, access_log.compute_log_size_key(vehicle_id)),
    }
    seqs = access_log.compute_page_seqs(doc["size"], before, limit)
    entries = [_get_event_entry(backend, vehicle_id, s, doc["height"]) for s in seqs]
    doc["events"] = [e for e in entries if e is not None]
    doc["next_before"] = _compute_cursor([e["event"]["seq"] for e in doc["events"]])
    return doc


@router.get("/oems/{oem}/access-log")
def get_oem_access_log(
    oem: str,
    backend: Annotated[NodeBackend, Depends(get_backend)],
    before: Annotated[int | None, Query(ge=0, lt=2**63)] = None,
    limit: Annotated[int, Query(ge=1, le=access_log.MAX_PAGE)] = 20,
) -> dict[str, Any]:
    """Return up to ``limit`` access-log events of an OEM's vehicles, newest first.

    Each entry is the OEM log's pointer (``oem_seq``, with its proof) and the
    vehicle event it names (with its proof), all at one height.
    """
    validate_member_identifier(oem, "OEM member id")
    doc = {"oem": oem, **_get_head(backend, access_log.compute_oem_log_size_key(oem))}
    entries = []
    for oseq in access_log.compute_page_seqs(doc["size"], before, limit):
        pointer = _get_proven(backend, access_log.compute_oem_log_key(oem, oseq), doc["height"])
        if pointer is None:
            continue
        ptr = decode_record(bytes.fromhex(pointer["value"]), OemLogPointer)
        entry = _get_event_entry(backend, ptr.vehicle_id, ptr.seq, doc["height"])
        if entry is not None:
            entries.append({"oem_seq": oseq, "pointer": pointer, **entry})
    doc["events"] = entries
    doc["next_before"] = _compute_cursor([e["oem_seq"] for e in entries])
    return doc


def register(app: FastAPI) -> None:
    """Add the access-log route."""
    app.include_router(router)
