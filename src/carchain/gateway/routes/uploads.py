"""The upload route: vehicles submit batches."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool

from carchain.api.schemas import compute_error_responses
from carchain.errors import BatchTooLarge
from carchain.gateway.routes.access import get_gateway
from carchain.gateway.schemas import UploadReceipt

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


def register(app: FastAPI) -> None:
    """Add the upload route."""
    app.include_router(router)
