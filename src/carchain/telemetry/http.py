"""Request metrics of an HTTP API (the node's and the gateway's), by route template."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram

REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
UNMATCHED_ROUTE = "<unmatched>"  # a path no route serves: never the raw path (unbounded labels)


class RequestMetrics:
    """The request latency histogram of one app, registered in ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.latency = Histogram(
            "carchain_http_request_duration_seconds",
            "API request latency by method, route template and status.",
            ["method", "route", "status"],
            buckets=REQUEST_BUCKETS,
            registry=registry,
        )

    def record(self, method: str, route: str, status: int, seconds: float) -> None:
        """Observe one finished request."""
        self.latency.labels(method=method, route=route, status=str(status)).observe(seconds)
