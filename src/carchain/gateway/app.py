"""The gateway's REST API: vehicles upload batches; key holders fetch ciphertext and proofs."""

from __future__ import annotations

from fastapi import FastAPI

from carchain import __version__
from carchain.api import docs, errors, openapi_document
from carchain.api.metrics import install_metrics
from carchain.gateway.routes import batches, keys, ops, releases, status, uploads, v2x_reports
from carchain.gateway.service import Gateway
from carchain.telemetry.gateway import GatewayMetrics


def create_gateway_app(gw: Gateway) -> FastAPI:
    """Return the gateway API app serving ``gw``."""
    app = FastAPI(
        title=f"carchain gateway ({gw.oem})",
        version=__version__,
        docs_url=None,  # FastAPI's page loads Swagger UI from a CDN: docs.register serves it
        redoc_url=None,
    )
    app.state.gateway = gw
    errors.register(app)
    gw_metrics = getattr(gw, "metrics", None)  # a test's stand-in gateway may have none
    install_metrics(app, *([gw_metrics.registry] if isinstance(gw_metrics, GatewayMetrics) else []))
    docs.register(app)
    openapi_document.install(app)
    for routes in (status, uploads, batches, keys, releases, v2x_reports, ops):
        routes.register(app)
    return app
