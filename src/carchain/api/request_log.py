"""The request log and request-latency metric of an API app (an ASGI middleware).

One log line per request on the ``carchain.request`` logger: method, route
template (``/blocks/{height}``, never the concrete path), status and duration.
The query string, the body and the client address are never logged: they can
carry personal data (a vehicle id, an owner key, a position).
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from carchain.telemetry.http import UNMATCHED_ROUTE, RequestMetrics, compute_method_label

log = logging.getLogger("carchain.request")


def compute_route_template(scope: Scope) -> str:
    """Return the template of the route that served ``scope`` (``<unmatched>`` if none)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED_ROUTE


class RequestLogMiddleware:
    """Logs and measures every HTTP request by route template."""

    def __init__(self, app: ASGIApp, metrics: RequestMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request, then record method, route, status and duration."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # if the app raises before it answers, the server answers 500
        started = time.perf_counter()

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self._record(scope, status, time.perf_counter() - started)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        method = compute_method_label(str(scope.get("method", "")))
        route = compute_route_template(scope)
        self.metrics.record(method, route, status, seconds)
        duration_ms = round(seconds * 1000, 3)
        fields = {"method": method, "route": route, "status": status, "duration_ms": duration_ms}
        log.info("%s %s %d %.1f ms", method, route, status, duration_ms, extra={"fields": fields})
