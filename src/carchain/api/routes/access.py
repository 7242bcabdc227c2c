"""A vehicle's access log: every grant, request, decision, release and receipt, with proofs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query

from carchain.api.deps import get_backend
from carchain.api.encoding import proof_json, to_jsonable
from carchain.core import access_log
from carchain.core.access_log import AccessEvent
from carchain.core.state import decode_record
from carchain.core.types import OK_RESULT_CODE
from carchain.core.vehicles import validate_vehicle_id
from carchain.errors import make_error
from carchain.node.backend import NodeBackend

router = APIRouter(tags=["access"])


def _get_proven(backend: NodeBackend, key: bytes, height: int) -> dict[str, Any] | None:
    q = backend.query(access_log.STORE, key, True, height)
    if q.code != OK_RESULT_CODE or q.proof is None:
        return None
    return {"key": key.hex(), "value": q.value.hex(), "proof": proof_json(q.proof)}


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
    size_key = access_log.compute_log_size_key(vehicle_id)
    head = backend.query(access_log.STORE, size_key, True)
    if head.code != OK_RESULT_CODE and head.error_code != "not_found":
        raise make_error(head.error_code, head.log, head.fields)
    size = int.from_bytes(head.value, "big") if head.code == OK_RESULT_CODE else 0
    doc: dict[str, Any] = {"vehicle_id": vehicle_id, "height": head.height, "size": size}
    if head.proof is not None:
        doc["app_hash"] = head.proof.app_hash.hex()
        anchor = backend.get_proof_app_hash_optional(head.height)
        if anchor is not None:
            doc["proof_height"] = anchor[0]
        if head.code == OK_RESULT_CODE:
            doc["size_proof"] = proof_json(head.proof)
    events = []
    for seq in access_log.compute_page_seqs(size, before, limit):
        proven = _get_proven(backend, access_log.compute_log_key(vehicle_id, seq), head.height)
        if proven is not None:
            event = decode_record(bytes.fromhex(proven["value"]), AccessEvent)
            events.append({"event": to_jsonable(event), **proven})
    doc["events"] = events
    doc["next_before"] = (
        events[-1]["event"]["seq"] if events and events[-1]["event"]["seq"] else None
    )
    return doc


def register(app: FastAPI) -> None:
    """Add the access-log route."""
    app.include_router(router)
