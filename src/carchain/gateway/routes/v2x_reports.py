"""``POST /v2x/reports``: a car's pseudonym-signed misbehaviour report, relayed to the chain."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool

from carchain.api.schemas import compute_error_responses
from carchain.gateway.routes.access import get_gateway
from carchain.gateway.routes.uploads import read_limited_body
from carchain.gateway.schemas import RelayedReport
from carchain.gateway.v2x_relay import MAX_REPORT_BYTES

router = APIRouter(tags=["v2x"])


@router.post(
    "/v2x/reports",
    response_model=RelayedReport,
    responses=compute_error_responses(400, 403, 404, 409, 413, 422),
)
async def relay_report(request: Request) -> dict[str, Any]:
    """Relay a report (MessagePack ``CarReport``, evidence in clear; the gateway seals
    it to the misbehaviour authorities before the chain); no vehicle credentials: the
    pseudonym's signature is the report's authentication. 200 once committed."""
    gw = get_gateway(request)
    raw = await read_limited_body(request, MAX_REPORT_BYTES)
    return await run_in_threadpool(gw.reports.process_report, raw)


def register(app: FastAPI) -> None:
    """Add the report relay route."""
    app.include_router(router)
