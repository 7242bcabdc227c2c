""" "Who read my car's data": a vehicle's and an OEM's access log, newest first, proven.

A page is read at ONE state height: the log's size counter first (its answer
names the height), then every entry at that height, so all proofs check
against one app hash. Each entry carries the stored record (hex) and its two
``simple:v`` proof ops, exactly as ``GET /state/{store}?prove`` returns them;
an OEM entry also proves the pointer that names the vehicle's event. The size
counter is proven too (when the log has ever been written), so a reader can
tell that a page starting at ``size - 1`` is the newest.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Depends, FastAPI, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from carchain.api.deps import get_backend
from carchain.api.encoding import proof_json, to_jsonable
from carchain.api.schemas import ProvenValue, compute_error_responses
from carchain.core import access_log as log
from carchain.core import members, vehicles
from carchain.core.state import ReadOnlyKVView
from carchain.core.types import OK_RESULT_CODE
from carchain.errors import ApiError, StorageCorrupted, make_error
from carchain.node.backend import NodeBackend

router = APIRouter(tags=["access log"])
MAX_HEIGHT = 2**63
DEFAULT_LIMIT = 20


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AccessEventModel(_Strict):
    """One access event (``core.access_log.AccessEvent``; bytes as hex)."""

    seq: int = Field(description="The event's position in the vehicle's log (from 0).")
    kind: str = Field(description="grant, withdraw, request, approved, refused, release, ...")
    height: int
    time_ms: int
    vehicle_id: str
    actor: str = Field(description="Signer's public key, hex.")
    actor_member: str = Field(description="Signer's member id; empty for an owner.")
    ref: int = Field(description="Seq of the grant, request, erasure or hold it is about.")
    categories: list[str]
    detail: str = Field(description="Reason code, purpose or hash the event names.")


class AccessLogEntry(_Strict):
    """A vehicle's event and the proof of its stored record."""

    seq: int
    event: AccessEventModel
    record: ProvenValue


class OemAccessLogEntry(AccessLogEntry):
    """An OEM's entry: the proven pointer (``oem_seq`` -> vehicle, seq) and the event."""

    oem_seq: int
    pointer: ProvenValue


class PageCommon(_Strict):
    """Where and at which state a page was read."""

    size: int = Field(description="How many entries the log holds at this height.")
    size_proof: ProvenValue | None = Field(
        description=(
            "Proof of the 8-byte size counter (written at the vehicle's registration, "
            "an OEM's at its admission); null only for a log never written."
        )
    )
    next_before: int | None = Field(description="Cursor of the next (older) page; null at the end.")
    height: int = Field(description="The state height every entry was read at.")
    app_hash: str = Field(description="The app hash every proof checks against, hex.")
    proof_height: int | None = Field(description="Height of the header carrying that app hash.")


class AccessLogPage(PageCommon):
    """A page of one vehicle's access log, newest first."""

    vehicle_id: str
    events: list[AccessLogEntry]


class OemAccessLogPage(PageCommon):
    """A page of an OEM's access log (all its vehicles), newest first."""

    oem: str
    events: list[OemAccessLogEntry]


class _HeightView(ReadOnlyKVView):
    """Committed state at one height, for core's readers."""

    def __init__(self, backend: NodeBackend, height: int) -> None:
        self.backend = backend
        self.height = height

    def get(self, store: str, key: bytes) -> bytes | None:
        """Return the value under ``key`` at this view's height, or ``None``."""
        q = self.backend.query(store, key, False, self.height)
        return q.value if q.code == OK_RESULT_CODE else None


def validate_page_params(before: int | None, limit: int, height: int) -> None:
    """Raise ``ApiError`` (400) for a limit outside 1..100 or a negative or huge cursor."""
    if not 0 < limit <= log.MAX_PAGE:
        raise ApiError(f"limit must be 1..{log.MAX_PAGE}")
    if before is not None and not 0 <= before < MAX_HEIGHT:
        raise ApiError("before must be a seq from 0 up")
    if not 0 <= height < MAX_HEIGHT:
        raise ApiError("height must be 0 (latest) or a committed height")


def _proven(backend: NodeBackend, key: bytes, height: int) -> tuple[bytes, dict[str, Any], bytes]:
    """Return (value, proven-value JSON, app hash) of an ``access`` key at ``height``."""
    q = backend.query(log.STORE, key, True, height)
    if q.code != OK_RESULT_CODE or q.proof is None:
        raise make_error(q.error_code, q.log, {**q.fields, "height": q.height})
    doc = {"key": key.hex(), "value": q.value.hex(), "proof": proof_json(q.proof)}
    return q.value, doc, q.proof.app_hash


def read_size(backend: NodeBackend, key: bytes, height: int) -> tuple[int, dict[str, Any]]:
    """Return the state height read and the page's common fields (size, its proof, app hash).

    A counter never written means an empty log (it cannot be proven absent).
    """
    q = backend.query(log.STORE, key, True, height)
    anchor = backend.get_proof_app_hash_optional(q.height)
    if q.code == OK_RESULT_CODE and q.proof is not None:
        doc = {"key": key.hex(), "value": q.value.hex(), "proof": proof_json(q.proof)}
        size, app_hash = int.from_bytes(q.value, "big"), q.proof.app_hash
    elif q.error_code == "not_found" and q.proof is None:
        doc, size, app_hash = None, 0, b"" if anchor is None else anchor[1]
    else:
        raise make_error(q.error_code, q.log, {**q.fields, "height": q.height})
    common = {"size": size, "size_proof": doc, "height": q.height, "app_hash": app_hash.hex()}
    return q.height, common | {"proof_height": None if anchor is None else anchor[0]}


def _decode_event(raw: bytes) -> log.AccessEvent:
    try:
        return msgspec.msgpack.decode(raw, type=log.AccessEvent)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise StorageCorrupted("access event does not decode") from exc


def _vehicle_entry(backend: NodeBackend, vehicle_id: str, seq: int, height: int) -> dict[str, Any]:
    raw, doc, _ = _proven(backend, log.compute_log_key(vehicle_id, seq), height)
    return {"seq": seq, "event": to_jsonable(_decode_event(raw)), "record": doc}


def _oem_entry(backend: NodeBackend, oem: str, oseq: int, height: int) -> dict[str, Any]:
    raw, pointer, _ = _proven(backend, log.compute_oem_log_key(oem, oseq), height)
    try:
        ptr = msgspec.msgpack.decode(raw, type=log.OemLogPointer)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise StorageCorrupted("access-log pointer does not decode") from exc
    entry = _vehicle_entry(backend, ptr.vehicle_id, ptr.seq, height)
    return entry | {"oem_seq": oseq, "pointer": pointer}


def compute_next_before(seqs: list[int]) -> int | None:
    """Return the cursor of the page after ``seqs`` (newest first), or ``None`` at seq 0."""
    return seqs[-1] if seqs and seqs[-1] > 0 else None


Before = Annotated[
    int | None, Query(description="Return entries with seq below this (default: newest).")
]
Limit = Annotated[int, Query(description=f"Page size, 1..{log.MAX_PAGE}.")]
Height = Annotated[int, Query(description="State height to read (0: latest; in the window).")]


def read_vehicle_page(
    backend: NodeBackend, vehicle_id: str, before: int | None, limit: int, height: int
) -> dict[str, Any]:
    """Return the page document of a vehicle's access log (see the route)."""
    validate_page_params(before, limit, height)
    at, common = read_size(backend, log.compute_log_size_key(vehicle_id), height)
    vehicles.get_vehicle(_HeightView(backend, at), vehicle_id)
    seqs = log.compute_page_seqs(common["size"], before, limit)
    events = [_vehicle_entry(backend, vehicle_id, s, at) for s in seqs]
    page = {"vehicle_id": vehicle_id, "events": events, "next_before": compute_next_before(seqs)}
    return common | page


def read_oem_page(
    backend: NodeBackend, oem: str, before: int | None, limit: int, height: int
) -> dict[str, Any]:
    """Return the page document of an OEM's access log (see the route)."""
    validate_page_params(before, limit, height)
    at, common = read_size(backend, log.compute_oem_log_size_key(oem), height)
    members.get_member(_HeightView(backend, at), oem)
    seqs = log.compute_page_seqs(common["size"], before, limit)
    events = [_oem_entry(backend, oem, s, at) for s in seqs]
    return common | {"oem": oem, "events": events, "next_before": compute_next_before(seqs)}


def compute_json_response(doc: dict[str, Any]) -> Response:
    """Return ``doc`` as JSON, encoded once by msgspec.

    The routes declare their response model for the OpenAPI document but return
    the encoded page: FastAPI's re-validation and ``jsonable_encoder`` walk of 20
    proofs cost more than reading and proving them (tests check the shape).
    """
    return Response(msgspec.json.encode(doc), media_type="application/json")


@router.get(
    "/vehicles/{vehicle_id}/access-log",
    response_model=AccessLogPage,
    responses=compute_error_responses(400, 404, 422),
)
def get_vehicle_access_log(
    vehicle_id: str,
    backend: Annotated[NodeBackend, Depends(get_backend)],
    before: Before = None,
    limit: Limit = DEFAULT_LIMIT,
    height: Height = 0,
) -> Response:
    """Return who did what with the vehicle's data: newest first, each entry proven.

    404 ``not_found`` for an unknown vehicle; 400 ``bad_request`` for a limit
    outside 1..100 or a negative cursor.
    """
    return compute_json_response(read_vehicle_page(backend, vehicle_id, before, limit, height))


@router.get(
    "/members/{oem}/access-log",
    response_model=OemAccessLogPage,
    responses=compute_error_responses(400, 404, 422),
)
def get_oem_access_log(
    oem: str,
    backend: Annotated[NodeBackend, Depends(get_backend)],
    before: Before = None,
    limit: Limit = DEFAULT_LIMIT,
    height: Height = 0,
) -> Response:
    """Return the access log of all of an OEM's vehicles: newest first, pointer and event proven.

    404 ``not_found`` for an unknown member; 400 ``bad_request`` for a bad limit or cursor.
    """
    return compute_json_response(read_oem_page(backend, oem, before, limit, height))


def register(app: FastAPI) -> None:
    """Add the access-log routes."""
    app.include_router(router)
