"""Request metrics of an HTTP API (the node's and the gateway's), by route template."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram

REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
UNMATCHED_ROUTE = "<unmatched>"  # a path no route serves: never the raw path (unbounded labels)
# The HTTP parser accepts any token as a method: label only these, the rest as OTHER.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "OTHER"


def compute_method_label(method: str) -> str:
    """Return ``method`` if it is a standard one, else ``OTHER`` (bounded label values)."""
    return method if method in KNOWN_METHODS else OTHER_METHOD


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
        """Observe one finished request (a non-standard method counts as ``OTHER``, a
        status outside 100..599 as 0: every label has a bounded set of values)."""
        code = status if 100 <= status <= 599 else 0
        self.latency.labels(
            method=compute_method_label(method), route=route, status=str(code)
        ).observe(seconds)
