"""The FastAPI application for a node."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI

from carchain import __version__
from carchain.api import docs, errors, openapi_document
from carchain.api.metrics import get_chain_metrics, install_metrics
from carchain.api.routes import (
    access_log,
    audit_index,
    case_views,
    cases,
    chain,
    escrow_committee,
    events,
    explorer,
    explorer_data,
    ops,
    registry,
    reports,
    sharing,
    transparency,
    txs,
    v2x_scms,
)
from carchain.node.backend import NodeBackend

if TYPE_CHECKING:  # the reader imports psycopg, loaded only when an index is used
    from carchain.index.queries import AuditIndex


def create_app(
    backend: NodeBackend, reports_dir: Path | None = None, index_reader: AuditIndex | None = None
) -> FastAPI:
    """Return the API app serving ``backend`` (and the published reports of
    ``reports_dir``, a node home's ``reports/`` folder, when given; the ``/index``
    audit routes from ``index_reader``, a PostgreSQL index reader, when given)."""
    app = FastAPI(
        title="carchain node API",
        version=__version__,
        description="Submit transactions, read blocks and state with proofs.",
        docs_url=None,  # FastAPI's page loads Swagger UI from a CDN: docs.register serves it
        redoc_url=None,
    )
    app.state.backend = backend
    app.state.audit_index = index_reader
    errors.register(app)
    chain_metrics = get_chain_metrics(backend)
    install_metrics(app, *(() if chain_metrics is None else (chain_metrics.registry,)))
    docs.register(app)
    openapi_document.install(app)
    for routes in (
        txs, chain, registry, access_log, sharing, escrow_committee, cases, transparency,
        case_views, v2x_scms,
        explorer,
        explorer_data,
        ops,
        events,
        audit_index,
    ):  # fmt: skip
        routes.register(app)
    reports.register(app, reports_dir)
    return app
