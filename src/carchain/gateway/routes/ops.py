"""Operations routes of a gateway: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from carchain.api.metrics import METRICS_RESPONSES, NOT_READY_RESPONSES, render_metrics
from carchain.api.routes.ops import HealthResponse
from carchain.errors import CarchainError, NotReady
from carchain.gateway.routes.access import get_gateway
from carchain.gateway.service import Gateway

router = APIRouter(tags=["operations"])


class GatewayReadyResponse(BaseModel):
    """The gateway anchors and its node is ready."""

    status: Literal["ready"]
    node_height: int = Field(description="The node's last committed height.")


@router.get("/health", response_model=HealthResponse)
def health() -> HealthResponse:
    """Liveness: 200 while the process serves HTTP (it checks nothing else)."""
    return HealthResponse(status="ok")


# A readiness probe must answer fast: a hung node makes the gateway not ready within
# this, instead of holding a worker thread (shared with uploads) for the client timeout.
READY_NODE_TIMEOUT_S = 2.0


def check_readiness(gw: Gateway) -> GatewayReadyResponse:
    """Return readiness, or raise ``NotReady`` naming what is missing: the anchoring
    loop must run and the node must answer ``/ready`` (caught up, consensus reachable)."""
    reasons: list[str] = []
    height = 0
    if not gw.is_anchoring():
        reasons.append("anchoring loop not running")
    try:
        height = int(gw.client.ready(timeout_s=READY_NODE_TIMEOUT_S)["height"])
    except CarchainError as exc:
        reasons.append(f"node not ready ({exc.code})")
    except (KeyError, TypeError, ValueError):
        reasons.append("node answered /ready without a height")
    if reasons:
        text = "; ".join(reasons)
        raise NotReady("gateway not ready: " + text, reason=text, height=height)
    return GatewayReadyResponse(status="ready", node_height=height)


@router.get("/ready", response_model=GatewayReadyResponse, responses=NOT_READY_RESPONSES)
def ready(request: Request) -> GatewayReadyResponse:
    """Readiness: 200 when the anchoring loop runs and the node is ready; else 503
    ``not_ready`` naming the unmet conditions."""
    return check_readiness(get_gateway(request))


@router.get("/metrics", response_class=Response, responses=METRICS_RESPONSES)
def metrics(request: Request) -> Response:
    """Prometheus metrics: batches received by result, anchors submitted, anchored
    batches, anchoring lag, unanchored batches, API request latency by route
    (docs/operations.md lists them)."""
    gw = get_gateway(request)
    total, anchored = gw.journal.count_batches()
    gw.metrics.unanchored.set(total - anchored)
    return render_metrics(request.app)


def register(app: FastAPI) -> None:
    """Add the operations routes."""
    app.include_router(router)
