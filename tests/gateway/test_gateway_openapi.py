"""The live gateway's 4xx answers (unsigned, malformed, too large, unknown) are the
error document its OpenAPI declares for that operation and status; its 2xx answers
match their schema too."""

from __future__ import annotations

import time
from typing import Any

import httpx
import jsonschema_rs
import pytest

from carchain.data.release import MAX_PACKAGE_BYTES
from carchain.sdk.request_signing import sign_request_at
from tests.api.openapi_contract import validate_answer
from tests.conftest import seeded_key
from tests.dataplane import World, make_records

UNKNOWN = "00" * 32


def signed_get(world: World, path: str, params: dict[str, str] | None = None) -> httpx.Response:
    """GET as the OEM's operator key, signed for this gateway."""
    query = str(httpx.QueryParams(params or {}))
    headers = sign_request_at(
        seeded_key("saic"), "saic", "GET", path, query, int(time.time() * 1000)
    )
    return httpx.get(world.gateway.url + path, params=params, headers=headers, timeout=30)


ANSWERS = [
    # (method, route, path, params, body, status, code); body None: a GET, else a POST
    ("get", "/batches", "/batches", {"vehicle_id": "saic:car-1"}, None, 401, "unauthenticated"),
    ("get", "/batches", "/batches", {}, None, 422, "bad_request"),
    ("get", "/batches/{header_hash}", "/batches/zz", {}, None, 401, "unauthenticated"),
    ("get", "/keys/{key_ref}", f"/keys/{UNKNOWN}", {}, None, 401, "unauthenticated"),
    ("post", "/batches", "/batches", {}, b"\x93garbage", 400, "invalid_batch"),
    ("post", "/releases/{vehicle_id}/{request_seq}", "/releases/saic:car-1/-1", {}, b"x", 422,
     "bad_request"),
    ("post", "/releases/{vehicle_id}/{request_seq}", "/releases/saic:car-1/0", {},
     b"x" * (MAX_PACKAGE_BYTES + 1), 413, "batch_too_large"),
    ("post", "/releases/{vehicle_id}/{request_seq}", "/releases/saic:car-1/0", {}, b"x", 404,
     "not_found"),
    ("post", "/v2x/reports", "/v2x/reports", {}, b"\x93garbage", 422, "invalid_v2x_body"),
]  # fmt: skip


@pytest.fixture(scope="module")
def spec(world: World) -> dict[str, Any]:
    return dict(httpx.get(world.gateway.url + "/openapi.json", timeout=30).json())


@pytest.mark.parametrize(("method", "route", "path", "params", "body", "status", "code"), ANSWERS)
def test_real_gateway_errors_match_the_document(
    world: World,
    spec: dict[str, Any],
    method: str,
    route: str,
    path: str,
    params: dict[str, str],
    body: bytes | None,
    status: int,
    code: str,
) -> None:
    url = world.gateway.url + path
    if body is None:
        resp = httpx.get(url, params=params, timeout=30)
    else:
        resp = httpx.post(url, content=body, timeout=30)
    assert resp.status_code == status, resp.text
    doc = resp.json()
    assert doc["error"]["code"] == code, doc
    validate_answer(spec, method, route, status, doc)


def test_signed_errors_and_answers_match_the_document(world: World, spec: dict[str, Any]) -> None:
    resp = signed_get(world, "/batches/zz")
    assert resp.status_code == 400, resp.text
    validate_answer(spec, "get", "/batches/{header_hash}", 400, resp.json())
    resp = signed_get(world, f"/batches/{UNKNOWN}")
    assert resp.status_code == 404, resp.text
    validate_answer(spec, "get", "/batches/{header_hash}", 404, resp.json())
    resp = signed_get(world, "/batches", {"vehicle_id": "saic:car-1"})
    assert resp.status_code == 200, resp.text
    validate_answer(spec, "get", "/batches", 200, resp.json())
    status = httpx.get(world.gateway.url + "/status", timeout=30)
    validate_answer(spec, "get", "/status", 200, status.json())


def test_gateway_docs_are_offline(world: World) -> None:
    page = httpx.get(world.gateway.url + "/docs", timeout=30)
    assert page.status_code == 200 and "https://" not in page.text and "http://" not in page.text
    asset = httpx.get(world.gateway.url + "/docs/static/swagger-ui-bundle.js", timeout=30)
    assert asset.status_code == 200 and "SwaggerUIBundle" in asset.text


def test_anchored_batch_answers_match_the_document(world: World, spec: dict[str, Any]) -> None:
    """A real batch: its listing, detail and proof answers are exactly the documented
    shapes (the models forbid extra fields), replaying an upload is the documented 409."""
    car = world.cars["saic:car-1"]
    rec = car.recorder()
    now = int(time.time() * 1000) - 60_000
    ups = []
    for t, r in make_records(5, now):
        ups += rec.add_at(r, t)
    ups += rec.flush()
    receipts = [httpx.post(world.gateway.url + "/batches", content=u.body, timeout=30) for u in ups]
    for r in receipts:
        assert r.status_code == 200, r.text
        validate_answer(spec, "post", "/batches", 200, r.json())
    replay = httpx.post(world.gateway.url + "/batches", content=ups[0].body, timeout=30)
    assert replay.status_code == 409, replay.text
    validate_answer(spec, "post", "/batches", 409, replay.json())
    world.wait_anchored()
    hh = ups[-1].header_hash.hex()
    listing = signed_get(world, "/batches", {"vehicle_id": "saic:car-1"}).json()
    assert listing["batches"]
    validate_answer(spec, "get", "/batches", 200, listing)
    detail = signed_get(world, f"/batches/{hh}").json()
    assert detail["anchor_height"] > 0 and detail["batch_header"]
    validate_answer(spec, "get", "/batches/{header_hash}", 200, detail)
    proof = signed_get(world, f"/batches/{hh}/proof").json()
    validate_answer(spec, "get", "/batches/{header_hash}/proof", 200, proof)
    with pytest.raises(jsonschema_rs.ValidationError):
        validate_answer(spec, "get", "/batches/{header_hash}", 200, {**detail, "extra": 1})


def test_status_answer_keeps_its_wire_form(world: World) -> None:
    """The answer model adds no field: without a custodian key there are no custody
    counters, not nulls, and the keys come in the gateway's own order."""
    doc = httpx.get(world.gateway.url + "/status", timeout=30).json()
    assert list(doc) == list(world.gateway.gateway.status())
    assert None not in doc.values()
