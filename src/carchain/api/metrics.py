"""An API app's Prometheus registry: its own request metrics plus the registries of
what it serves (the node's chain metrics, a gateway's metrics). Never the global one."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from carchain.api.request_log import RequestLogMiddleware
from carchain.api.schemas import compute_error_responses
from carchain.telemetry.chain import ChainMetrics
from carchain.telemetry.http import RequestMetrics

METRICS_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {
        "description": "Prometheus text exposition format.",
        "content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
    }
}

NOT_READY_RESPONSES: dict[int | str, dict[str, Any]] = {
    503: {
        **compute_error_responses(503)[503],
        "description": "Not ready (`not_ready`): `fields.reason` names each unmet condition.",
    }
}


class RegistryBridge(Collector):
    """Exposes another registry's metrics through this one (collected at scrape time)."""

    def __init__(self, source: CollectorRegistry) -> None:
        self.source = source

    def collect(self) -> Iterable[Metric]:
        """Return the source registry's metrics."""
        return self.source.collect()


def get_chain_metrics(backend: object) -> ChainMetrics | None:
    """Return a backend's chain metrics (``None`` for a stand-in backend without them)."""
    metrics = getattr(backend, "metrics", None)
    return metrics if isinstance(metrics, ChainMetrics) else None


def install_metrics(app: FastAPI, *sources: CollectorRegistry) -> CollectorRegistry:
    """Give ``app`` its own registry (request metrics and ``sources``) and the request log."""
    registry = CollectorRegistry(auto_describe=False)
    for source in sources:
        registry.register(RegistryBridge(source))
    app.add_middleware(RequestLogMiddleware, metrics=RequestMetrics(registry))
    app.state.metrics_registry = registry
    return registry


def render_metrics(app: FastAPI) -> Response:
    """Return ``app``'s registry in the Prometheus text format."""
    registry: CollectorRegistry = app.state.metrics_registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
