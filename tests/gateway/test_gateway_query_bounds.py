"""Out-of-range numbers in a gateway listing are a typed 4xx, never a 500 (review of
issue 7): SQLite holds 64-bit integers only."""

from __future__ import annotations

import time

import httpx
import pytest

from carchain.sdk.request_signing import sign_request_at
from tests.conftest import seeded_key
from tests.dataplane import World


@pytest.mark.parametrize(
    "query",
    [
        "vehicle_id=saic:car-1&start_ms=0&end_ms=" + "9" * 30,
        "vehicle_id=saic:car-1&start_ms=-" + "9" * 30,
        "vehicle_id=saic:car-1&start_ms=-1",
        "vehicle_id=saic:car-1&end_ms=" + str(2**63),
    ],
)
def test_invalid_listing_range_is_a_typed_error(world: World, query: str) -> None:
    headers = sign_request_at(
        seeded_key("saic"), "saic", "GET", "/batches", query, int(time.time() * 1000)
    )
    resp = httpx.get(f"{world.gateway.url}/batches?{query}", headers=headers, timeout=30)
    assert 400 <= resp.status_code < 500, resp.text
    assert resp.json()["error"]["code"] == "bad_request"


def test_listing_at_the_range_limits_works(world: World) -> None:
    query = f"vehicle_id=saic:car-1&start_ms=0&end_ms={2**63 - 1}"
    headers = sign_request_at(
        seeded_key("saic"), "saic", "GET", "/batches", query, int(time.time() * 1000)
    )
    resp = httpx.get(f"{world.gateway.url}/batches?{query}", headers=headers, timeout=30)
    assert resp.status_code == 200 and isinstance(resp.json()["batches"], list)
