"""The OpenAPI documents of the node and the gateway: every operation declares the
schema of its 2xx answer and each 4xx references the error document; real 4xx
answers (and 2xx ones) match what is declared."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any, cast

import jsonschema_rs
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from carchain.api.app import create_app
from carchain.gateway.app import create_gateway_app
from carchain.node.solo_node import SoloNode
from carchain.sdk.transactions import build_tx
from carchain.storage.database import Database
from tests.api.openapi_contract import (
    JSON,
    get_response_schema,
    is_error_document_schema,
    iter_operations,
    validate_answer,
)
from tests.conftest import CHAIN_ID, make_genesis, seeded_key
from tests.core.test_vehicles import register_body

NON_JSON = {
    "application/octet-stream", "text/event-stream", "text/plain", "text/html", "image/png",
    "image/svg+xml",
}  # fmt: skip


def node_app() -> FastAPI:
    return create_app(cast(Any, SimpleNamespace()))


def gateway_app() -> FastAPI:
    return create_gateway_app(cast(Any, SimpleNamespace(oem="saic")))


def is_empty_schema(schema: dict[str, Any]) -> bool:
    """Return whether ``schema`` admits any object (FastAPI's ``dict[str, Any]`` answer)."""
    keywords = {k for k in schema if k not in ("title", "description")}
    bare_object = schema.get("type") == "object" and not schema.get("properties")
    return not keywords or (bare_object and schema.get("additionalProperties", True) is True)


def check_document(spec: dict[str, Any]) -> list[str]:
    """Return what is missing from the document, one line per defect."""
    problems = []
    for method, path, op in iter_operations(spec):
        where = f"{method.upper()} {path}"
        responses = op["responses"]
        ok = [s for s in responses if s.startswith("2")]
        if not ok:
            problems.append(f"{where}: no 2xx answer")
        for status in ok:
            content = responses[status].get("content", {})
            schema = content.get(JSON, {}).get("schema")
            if not (schema and (schema.get("$ref") or schema.get("type"))) and not (
                NON_JSON & {m.split(";")[0].strip() for m in content}
            ):
                problems.append(f"{where}: {status} has no JSON schema nor a media type")
            if schema is not None and is_empty_schema(schema):
                problems.append(f"{where}: {status} schema says nothing ({schema})")
        errors = [s for s in responses if s.startswith("4")]
        if (op.get("parameters") or op.get("requestBody")) and "422" not in errors:
            problems.append(f"{where}: has input but documents no 422")
        for status in errors:
            schema = responses[status].get("content", {}).get(JSON, {}).get("schema", {})
            if not is_error_document_schema(schema):
                problems.append(f"{where}: {status} does not reference ErrorDocument")
    return problems


@pytest.mark.parametrize("make", [node_app, gateway_app], ids=["node", "gateway"])
def test_every_operation_documents_its_answers(make: Any) -> None:
    spec = make().openapi()
    assert len(iter_operations(spec)) >= 12
    assert check_document(spec) == []
    error = spec["components"]["schemas"]["ErrorDetail"]
    assert error["additionalProperties"] is False
    assert set(error["required"]) == {"code", "message"}


def test_invalid_document_defects_are_found() -> None:
    """The walk is not vacuous: a route with a bare dict answer and FastAPI's own 422
    (HTTPValidationError) is reported."""
    app = FastAPI()

    @app.get("/bare/{x}")
    def bare(x: int) -> dict[str, Any]:
        return {"x": x}

    problems = check_document(app.openapi())
    assert any("200 schema says nothing" in p for p in problems), problems
    assert any("422 does not reference ErrorDocument" in p for p in problems), problems


@pytest.mark.parametrize("make", [node_app, gateway_app], ids=["node", "gateway"])
def test_no_fastapi_validation_schema_is_left(make: Any) -> None:
    spec = make().openapi()
    assert "HTTPValidationError" not in spec["components"]["schemas"]


# --- real answers against the document --------------------------------------------------------


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, Any]]]:
    db = Database(tmp_path_factory.mktemp("openapi") / "node.db")
    solo = SoloNode(db)
    solo.app.init_chain(make_genesis())
    assert solo.engine.submit(build_tx(CHAIN_ID, seeded_key("saic"), 1, register_body())).ok
    solo.produce_block()
    app = create_app(solo)
    try:
        with TestClient(app, raise_server_exceptions=False) as http:
            yield http, app.openapi()
    finally:
        db.close()


NODE_ERRORS = [
    ("get", "/blocks/{height}", "/blocks/0", {}, 400, "bad_request"),
    ("get", "/blocks/{height}", "/blocks/99", {}, 404, "not_found"),
    ("get", "/blocks/{height}", "/blocks/x", {}, 422, "bad_request"),
    ("get", "/blocks/{height}/header", "/blocks/0/header", {}, 400, "bad_request"),
    ("get", "/blocks/{height}/header", "/blocks/99/header", {}, 404, "not_found"),
    ("get", "/blocks/{height}/header", "/blocks/x/header", {}, 422, "bad_request"),
    ("get", "/state/{store}", "/state/vehicles", {}, 400, "bad_request"),
    ("get", "/state/{store}", "/state/vehicles", {"key": "v/nope"}, 404, "not_found"),
    ("get", "/state/{store}", "/state/vehicles", {"key": "a", "prove": "x"}, 422, "bad_request"),
    ("get", "/members", "/members", {"limit": 0}, 422, "bad_request"),
    ("get", "/members/{member_id}", "/members/nobody", {}, 404, "not_found"),
    ("get", "/vehicles/{vehicle_id}", "/vehicles/saic:9", {}, 404, "not_found"),
    ("get", "/proposals/{proposal_id}", "/proposals/7", {}, 404, "not_found"),
    ("get", "/proposals/{proposal_id}", "/proposals/-1", {}, 422, "bad_request"),
    ("get", "/accounts/{public_key}", "/accounts/zz", {}, 400, "bad_request"),
    ("get", "/txs/{tx_hash}", "/txs/zz", {}, 400, "bad_request"),
    ("get", "/txs/{tx_hash}", "/txs/" + "00" * 32, {}, 404, "not_found"),
    ("get", "/vehicles/{vehicle_id}/access-log", "/vehicles/saic:1/access-log", {"limit": 0},
     400, "bad_request"),
    ("get", "/cases/{case_id}", "/cases/0", {}, 422, "bad_request"),
    ("get", "/cases/{case_id}", "/cases/5", {}, 404, "not_found"),
    ("get", "/transparency", "/transparency", {"period": "2026Q9"}, 400, "bad_request"),
    ("get", "/v2x/cas/{hashed_id8}", "/v2x/cas/zz", {}, 400, "bad_request"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "route", "path", "params", "status", "code"), NODE_ERRORS)
def test_real_node_errors_match_the_document(
    node: tuple[TestClient, dict[str, Any]],
    method: str,
    route: str,
    path: str,
    params: dict[str, Any],
    status: int,
    code: str,
) -> None:
    http, spec = node
    resp = http.request(method.upper(), path, params=params)
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["error"]["code"] == code
    validate_answer(spec, method, route, status, body)


def test_schema_mismatch_body_is_the_error_document(
    node: tuple[TestClient, dict[str, Any]],
) -> None:
    """422 from request validation: code, message and one line per mismatch in
    ``fields.errors`` (no FastAPI ``detail``, no echo of the input)."""
    http, spec = node
    resp = http.get("/members", params={"limit": "secret-vin-LSV"})
    assert resp.status_code == 422
    body = resp.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields"}
    lines = body["error"]["fields"]["errors"]
    assert lines and lines[0].startswith("query.limit: ")
    assert "secret-vin-LSV" not in resp.text
    validate_answer(spec, "get", "/members", 422, body)


def test_refused_transaction_carries_answer_and_error(
    node: tuple[TestClient, dict[str, Any]],
) -> None:
    """A replayed nonce (409): the error document AND the answer's hash and verdict."""
    import base64

    http, spec = node
    raw = build_tx(CHAIN_ID, seeded_key("saic"), 1, register_body("saic:2"))
    resp = http.post("/txs", json={"tx": base64.b64encode(raw).decode()})
    assert resp.status_code == 409, resp.text
    body = resp.json()
    assert body["error"]["code"] == "invalid_nonce" and body["check"]["code"] != 0
    validate_answer(spec, "post", "/txs", 409, body)
    del body["hash"]
    with pytest.raises(jsonschema_rs.ValidationError):
        validate_answer(spec, "post", "/txs", 409, body)


def test_real_answers_match_their_2xx_schema(node: tuple[TestClient, dict[str, Any]]) -> None:
    http, spec = node
    for route, path in [
        ("/status", "/status"),
        ("/blocks/{height}", "/blocks/1"),
        ("/blocks/{height}/header", "/blocks/1/header"),
        ("/members", "/members"),
        ("/members/{member_id}", "/members/saic"),
        ("/vehicles", "/vehicles"),
        ("/vehicles/{vehicle_id}", "/vehicles/saic:1"),
        ("/accounts/{public_key}", "/accounts/" + seeded_key("saic").public_key.hex()),
    ]:
        resp = http.get(path)
        assert resp.status_code == 200, (path, resp.text)
        validate_answer(spec, "get", route, 200, resp.json())
    resp = http.get("/state/vehicles", params={"key": "v/saic:1", "prove": "true"})
    validate_answer(spec, "get", "/state/{store}", 200, resp.json())
    # The models add nothing to the wire: no `fields: null` of a result without fields,
    # no proof keys of an unproven read.
    assert http.get("/blocks/1").json()["results"][0].keys() == {
        "code",
        "error_code",
        "log",
        "events",
    }
    plain = http.get("/state/vehicles", params={"key": "v/saic:1"}).json()
    assert list(plain) == ["store", "key", "height", "value"]


def test_invalid_answer_is_refused_by_the_schema(node: tuple[TestClient, dict[str, Any]]) -> None:
    """The check is strict: an extra or missing field of an error body fails."""
    _, spec = node
    good = {"error": {"code": "not_found", "message": "no such member"}}
    validate_answer(spec, "get", "/members/{member_id}", 404, good)
    for bad in (
        {"error": {"code": "not_found"}},
        {"error": {"code": "not_found", "message": "m", "detail": ["x"]}},
        {"detail": "Not Found"},
    ):
        with pytest.raises(jsonschema_rs.ValidationError):
            validate_answer(spec, "get", "/members/{member_id}", 404, bad)


def test_get_response_schema_of_binary_answer_is_not_json() -> None:
    spec = gateway_app().openapi()
    with pytest.raises(KeyError):
        get_response_schema(spec, "get", "/keys/{key_ref}", 200)
    content = spec["paths"]["/keys/{key_ref}"]["get"]["responses"]["200"]["content"]
    assert set(content) == {"application/octet-stream"}
