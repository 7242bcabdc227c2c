"""The FastAPI application for a node."""

from __future__ import annotations

from fastapi import FastAPI

from carchain import __version__
from carchain.api import docs, errors, openapi_document
from carchain.api.routes import (
    access_log,
    case_views,
    cases,
    chain,
    escrow_committee,
    registry,
    sharing,
    transparency,
    txs,
    v2x_scms,
)
from carchain.node.backend import NodeBackend


def create_app(backend: NodeBackend) -> FastAPI:
    """Return the API app serving ``backend``."""
    app = FastAPI(
        title="carchain node API",
        version=__version__,
        description="Submit transactions, read blocks and state with proofs.",
        docs_url=None,  # FastAPI's page loads Swagger UI from a CDN: docs.register serves it
        redoc_url=None,
    )
    app.state.backend = backend
    errors.register(app)
    docs.register(app)
    openapi_document.install(app)
    for routes in (
        txs, chain, registry, access_log, sharing, escrow_committee, cases, transparency,
        case_views, v2x_scms,
    ):  # fmt: skip
        routes.register(app)
    return app
