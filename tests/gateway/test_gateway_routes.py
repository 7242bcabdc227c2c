"""The gateway app is assembled from route modules; every route is still served."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from carchain.gateway.app import create_gateway_app

EXPECTED = {
    ("get", "/status"),
    ("post", "/batches"),
    ("post", "/batches/group"),
    ("get", "/batches"),
    ("get", "/batches/{header_hash}"),
    ("get", "/batches/{header_hash}/ciphertext"),
    ("get", "/batches/{header_hash}/segments/{category}/ciphertext"),
    ("get", "/batches/{header_hash}/proof"),
    ("get", "/keys/{key_ref}"),
    ("get", "/releases/{vehicle_id}/{request_seq}"),
    ("post", "/releases/{vehicle_id}/{request_seq}"),
    ("get", "/tombstones/{tombstone_hash}"),
    ("post", "/v2x/reports"),
    ("get", "/health"),
    ("get", "/ready"),
    ("get", "/metrics"),
}


def test_gateway_app_serves_every_route_module() -> None:
    app = create_gateway_app(cast(Any, SimpleNamespace(oem="saic")))
    paths = app.openapi()["paths"]
    served = {(method, path) for path, ops in paths.items() for method in ops}
    assert served == EXPECTED
    assert app.state.gateway.oem == "saic"
