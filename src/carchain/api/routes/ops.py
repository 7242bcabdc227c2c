"""Operations routes of a node: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from carchain.api.deps import get_backend
from carchain.api.metrics import (
    METRICS_RESPONSES,
    NOT_READY_RESPONSES,
    get_chain_metrics,
    render_metrics,
)
from carchain.errors import NotReady
from carchain.node.backend import NodeBackend

router = APIRouter(tags=["operations"])


class HealthResponse(BaseModel):
    """The process is alive and serving HTTP."""

    status: Literal["ok"]


class ReadyResponse(BaseModel):
    """The node is caught up and its consensus reachable."""

    status: Literal["ready"]
    height: int = Field(description="The node's last committed height.")
    consensus_height: int = Field(description="The latest height its consensus engine reports.")


@router.get("/health", response_model=HealthResponse)
def health() -> HealthResponse:
    """Liveness: 200 while the process serves HTTP (it checks nothing else)."""
    return HealthResponse(status="ok")


@router.get("/ready", response_model=ReadyResponse, responses=NOT_READY_RESPONSES)
async def ready(backend: Annotated[NodeBackend, Depends(get_backend)]) -> ReadyResponse:
    """Readiness: 200 when the node is caught up and its consensus reachable (the solo
    block loop runs; CometBFT answers, is not catching up and the application is at
    most one block behind it); else 503 ``not_ready`` naming the unmet conditions."""
    r = await backend.check_readiness()
    if not r.ready:
        raise NotReady(
            "node not ready: " + "; ".join(r.reasons),
            reason="; ".join(r.reasons),
            height=r.height,
            consensus_height=r.consensus_height,
        )
    return ReadyResponse(status="ready", height=r.height, consensus_height=r.consensus_height)


@router.get("/metrics", response_class=Response, responses=METRICS_RESPONSES)
def metrics(request: Request, backend: Annotated[NodeBackend, Depends(get_backend)]) -> Response:
    """Prometheus metrics: chain height, block interval, transactions by type and result,
    mempool size, CheckTx/FinalizeBlock/Commit latencies, API request latency by route
    (docs/operations.md lists them)."""
    chain = get_chain_metrics(backend)
    if chain is not None:
        status = backend.status()
        chain.height.set(status.height)
        chain.mempool_size.set(status.mempool_size)
    return render_metrics(request.app)


def register(app: FastAPI) -> None:
    """Add the operations routes."""
    app.include_router(router)
