"""The upload route: vehicles submit batches."""

from __future__ import annotations

from typing import Any

import msgspec
from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool

from carchain.api.schemas import compute_error_responses
from carchain.errors import BatchTooLarge, CarchainError, InvalidBatch
from carchain.gateway.ingest import Outcome
from carchain.gateway.routes.access import get_gateway
from carchain.gateway.schemas import GroupReceipt, UploadReceipt

_group_decoder = msgspec.msgpack.Decoder(list[bytes])

router = APIRouter(tags=["uploads"])


async def read_limited_body(request: Request, limit: int) -> bytes:
    """Return the request body; ``BatchTooLarge`` as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BatchTooLarge("upload too large", size=int(declared))
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:  # chunked uploads have no length to check up front
            raise BatchTooLarge("upload too large", size=size)
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/batches",
    response_model=UploadReceipt,
    responses=compute_error_responses(400, 403, 409, 413, 422),
)
async def submit_batch(request: Request) -> dict[str, Any]:
    """Upload one batch (MessagePack ``SubmittedBatch``); 200 only once it is durable.

    400 for a batch that does not decode or check, 403 for an unregistered or revoked
    vehicle or another OEM's, 409 for a replay, 413 past the upload limit, 422 for a
    batch of the wrong epoch.
    """
    gw = get_gateway(request)
    raw = await read_limited_body(request, gw.ingestor.limits.max_upload_bytes)
    receipt = await run_in_threadpool(gw.process_batch, raw)
    return {"header_hash": receipt.header_hash.hex(), "received": receipt.received}


def decode_group(body: bytes) -> list[bytes]:
    """Return the uploads of a group body (a MessagePack array of ``SubmittedBatch``
    encodings, each as bytes); ``InvalidBatch`` if it is anything else."""
    try:
        raws = _group_decoder.decode(body)
    except msgspec.DecodeError:
        raise InvalidBatch("a group upload is a MessagePack array of encoded batches") from None
    if not raws:
        raise InvalidBatch("a group upload holds at least one batch")
    return raws


def render_outcome(outcome: Outcome) -> dict[str, Any]:
    """Return one group item: the receipt, or the error document refusing the upload."""
    if isinstance(outcome, CarchainError):
        return {"error": outcome.to_dict()}
    return {"header_hash": outcome.header_hash.hex(), "received": outcome.received}


@router.post(
    "/batches/group",
    response_model=GroupReceipt,
    response_model_exclude_none=True,
    responses=compute_error_responses(400, 413, 422),
)
async def submit_batches(request: Request) -> dict[str, Any]:
    """Upload several batches at once (a car's pending uploads after a drive without
    connectivity): a MessagePack array of ``SubmittedBatch`` encodings, at most
    ``max_group_batches``. Each is checked as ``POST /batches`` checks one; the
    accepted ones are stored durably together (one journal commit) before the answer,
    which lists each upload's receipt or the error refusing it, in order. 400 for a body
    that is not such an array, 413 past the group limits."""
    gw = get_gateway(request)
    limits = gw.ingestor.limits
    raws = decode_group(await read_limited_body(request, limits.max_group_bytes))
    outcomes = await run_in_threadpool(gw.process_batches, raws)
    results = [render_outcome(o) for o in outcomes]
    accepted = sum(not isinstance(o, CarchainError) for o in outcomes)
    return {"accepted": accepted, "results": results}


def register(app: FastAPI) -> None:
    """Add the upload route."""
    app.include_router(router)
