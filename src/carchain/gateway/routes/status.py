"""The gateway's status route."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request

from carchain.gateway.routes.access import get_gateway
from carchain.gateway.schemas import GatewayStatusOut

router = APIRouter(tags=["status"])


@router.get(
    "/status",
    response_model=GatewayStatusOut,
    response_model_exclude_unset=True,  # the custody fields only with a custodian key
)
def status(request: Request) -> dict[str, object]:
    """Return counts of accepted, anchored and pending batches and of anchors."""
    return get_gateway(request).status()


def register(app: FastAPI) -> None:
    """Add the status route."""
    app.include_router(router)
