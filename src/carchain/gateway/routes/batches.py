"""Batch reads: listings, one batch, its ciphertext and its proof to the anchor."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import Response

from carchain.api.schemas import compute_error_responses
from carchain.gateway.routes.access import (
    admit,
    authenticate,
    compute_batch_json,
    filter_case_rows,
    filter_readable,
    get_gateway,
    get_release_row,
    get_signer_row_optional,
    read_ciphertext,
)
from carchain.gateway.schemas import (
    OCTETS,
    BatchDetail,
    BatchList,
    BatchProofOut,
    compute_octet_response,
)

router = APIRouter(tags=["batches"])
CaseId = Annotated[
    int | None,
    Query(ge=1, lt=2**63, description="Read for this authorised lawful-access case."),
]


@router.get(
    "/batches", response_model=BatchList, responses=compute_error_responses(401, 403, 404, 409, 422)
)
def list_batches(
    request: Request,
    vehicle_id: str,
    start_ms: Annotated[int, Query(ge=0, lt=2**63)] = 0,
    end_ms: Annotated[int, Query(ge=0, lt=2**63)] = 2**62,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    anchored_only: bool = False,
    case_id: CaseId = None,
) -> dict[str, Any]:
    """Return a vehicle's batches overlapping a time range (optionally anchored only).

    Operators see all; an owner sees the batches of its ownership periods; with
    ``case_id``, the case's officer and custodians see the batches in its scope.
    """
    reader = authenticate(request)
    gw = get_gateway(request)
    if case_id is None:
        gw.access.validate_vehicle_reader(reader, vehicle_id)
        admit(request)
        rows = filter_readable(
            gw, gw.journal.find_batches(vehicle_id, start_ms, end_ms, limit), reader
        )
    else:
        rows = gw.journal.find_batches(vehicle_id, start_ms, end_ms, limit)
        rows = filter_case_rows(gw, rows, reader, vehicle_id, case_id)
        admit(request)
    docs = [compute_batch_json(r, gw) for r in rows]
    if anchored_only:
        docs = [d for d in docs if d["anchor_height"]]
    return {"batches": docs}


@router.get(
    "/batches/{header_hash}",
    response_model=BatchDetail,
    responses=compute_error_responses(400, 401, 403, 404, 409, 422),
)
def get_batch(header_hash: str, request: Request, case_id: CaseId = None) -> dict[str, Any]:
    """Return one batch's header fields and anchoring state (with ``case_id``: to the
    case's officer, for a batch in its scope)."""
    reader = authenticate(request)
    gw = get_gateway(request)
    row = get_release_row(gw, header_hash, reader, None, None, case_id)
    admit(request)
    return compute_batch_json(row, gw, with_header=True)


@router.get(
    "/batches/{header_hash}/ciphertext",
    response_class=Response,
    responses={
        **compute_octet_response("The batch's ciphertext."),
        **compute_error_responses(400, 401, 403, 404),
    },
)
def get_ciphertext(header_hash: str, request: Request) -> Response:
    """Return the batch's ciphertext (useless without a released key)."""
    reader = authenticate(request)
    data = read_ciphertext(get_gateway(request), header_hash, reader, None)
    admit(request)
    return Response(data, media_type=OCTETS)


@router.get(
    "/batches/{header_hash}/segments/{category}/ciphertext",
    response_class=Response,
    responses={
        **compute_octet_response("The segment's ciphertext."),
        **compute_error_responses(400, 401, 403, 404, 409, 422),
    },
)
def get_segment_ciphertext(
    header_hash: str,
    category: str,
    request: Request,
    request_seq: Annotated[int | None, Query(ge=0, lt=2**63)] = None,
    case_id: CaseId = None,
) -> Response:
    """Return one category segment's ciphertext (opens only with its segment key).

    Operators and the batch's owner; with ``request_seq``, the requester of that
    release on chain if it names this batch and category; with ``case_id``, the
    officer of that authorised, unexpired case if batch and category are in scope.
    """
    reader = authenticate(request)
    gw = get_gateway(request)
    data = read_ciphertext(gw, header_hash, reader, category, request_seq, case_id)
    admit(request)
    return Response(data, media_type=OCTETS)


@router.get(
    "/batches/{header_hash}/proof",
    response_model=BatchProofOut,
    responses=compute_error_responses(400, 401, 403, 404, 409, 422),
)
def get_batch_proof(
    header_hash: str,
    request: Request,
    request_seq: Annotated[int | None, Query(ge=0, lt=2**63)] = None,
    case_id: CaseId = None,
) -> dict[str, Any]:
    """Return the signed header, its proof to the gateway root and the anchor transaction.

    Operators, the owner and the vehicle key that signed the batch (the car checks its
    own batch is anchored); with ``request_seq``, the requester of a release naming it;
    with ``case_id``, the officer of that case for a batch in its scope.
    """
    reader = authenticate(request)
    gw = get_gateway(request)
    row = None
    if request_seq is None and case_id is None:
        row = get_signer_row_optional(gw, header_hash, reader)
    if row is None:
        row = get_release_row(gw, header_hash, reader, None, request_seq, case_id)
    admit(request)
    anchor, proof = gw.anchorer.get_batch_proof(row)
    return {
        "batch_header": row.header.hex(),
        "batch_proof": proof.to_dict(),
        "anchor": {
            "oem": gw.oem,
            "seq": anchor.body.seq,
            "root": anchor.body.root.hex(),
            "height": anchor.height,
            "tx": anchor.tx.hex(),
        },
    }


def register(app: FastAPI) -> None:
    """Add the batch read routes."""
    app.include_router(router)
