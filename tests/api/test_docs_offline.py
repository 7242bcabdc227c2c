"""``/docs`` works offline on the node and the gateway: the page names only the app's
own URLs, its assets come from the pinned swagger-ui-bundle, and the document it reads
is OpenAPI 3.0 (what that Swagger UI renders)."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace
from typing import Any, cast

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from carchain.api.app import create_app
from carchain.api.docs import compute_docs_page, compute_openapi_30
from carchain.gateway.app import create_gateway_app

URL_RE = re.compile(r"""(?:src|href|data-spec)="([^"]*)\"""")
EXTERNAL_RE = re.compile(r"(https?:)?//[a-z0-9]", re.IGNORECASE)


def node_app() -> FastAPI:
    return create_app(cast(Any, SimpleNamespace()))


def gateway_app() -> FastAPI:
    return create_gateway_app(cast(Any, SimpleNamespace(oem="saic")))


@pytest.fixture(params=[node_app, gateway_app], ids=["node", "gateway"])
def http(request: pytest.FixtureRequest) -> Any:
    with TestClient(request.param()) as client:
        yield client


def test_docs_page_references_no_external_url(http: TestClient) -> None:
    resp = http.get("/docs")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/html")
    assert not EXTERNAL_RE.search(resp.text), resp.text
    assert "cdn" not in resp.text.lower()
    csp = resp.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    init = http.get("/docs/init.js")
    assert init.status_code == 200 and "javascript" in init.headers["content-type"]
    assert not EXTERNAL_RE.search(init.text)
    assert "validatorUrl: null" in init.text  # no online validator badge either


def test_docs_assets_are_served(http: TestClient) -> None:
    urls = URL_RE.findall(http.get("/docs").text)
    assert "/docs/static/swagger-ui-bundle.js" in urls and "/docs/static/swagger-ui.css" in urls
    for url in urls:
        resp = http.get(url)
        assert resp.status_code == 200, url
        assert resp.content, url
    bundle = http.get("/docs/static/swagger-ui-bundle.js")
    assert "SwaggerUIBundle" in bundle.text
    assert "javascript" in bundle.headers["content-type"]
    assert http.get("/docs/static/nope.js").status_code == 404
    assert http.get("/docs/static/../../../../etc/passwd").status_code == 404
    assert bundle.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'none'" in bundle.headers["content-security-policy"]


@pytest.mark.parametrize(
    "name", ["index.html", "oauth2-redirect.html", "swagger-initializer.js",
             "swagger-ui-bundle.js.map", "%2e%2e%2f__init__.py"],
)  # fmt: skip
def test_only_the_assets_the_page_loads_are_served(http: TestClient, name: str) -> None:
    """The bundle's demo page (pointing at petstore.swagger.io), its oauth2 page and its
    source maps are not served from the node's origin."""
    resp = http.get(f"/docs/static/{name}")
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "not_found"


def test_fastapi_cdn_pages_are_off(http: TestClient) -> None:
    assert http.get("/redoc").status_code == 404
    assert http.get("/docs/oauth2-redirect").status_code == 404


def test_docs_document_is_openapi_30(http: TestClient) -> None:
    original = http.get("/openapi.json").json()
    assert original["openapi"].startswith("3.1")
    doc = http.get("/docs/openapi-3.0.json").json()
    assert doc["openapi"] == "3.0.3"
    assert set(doc["paths"]) == set(original["paths"])
    text = json.dumps(doc)
    assert '{"type": "null"}' not in text
    assert '"const"' not in text
    assert not re.search(r'"exclusiveM(in|ax)imum": -?[0-9]', text)


def test_compute_openapi_30_rewrites_31_keywords() -> None:
    doc = {
        "openapi": "3.1.0",
        "components": {
            "schemas": {
                "M": {
                    "type": "object",
                    "properties": {
                        "const": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
                        "ref": {"anyOf": [{"$ref": "#/components/schemas/N"}, {"type": "null"}]},
                        "two": {
                            "anyOf": [{"type": "integer"}, {"type": "string"}, {"type": "null"}]
                        },
                        "kind": {"const": "a", "type": "string"},
                        "n": {"type": "number", "exclusiveMinimum": 0, "examples": [3]},
                    },
                }
            }
        },
    }
    out = compute_openapi_30(doc)
    props = out["components"]["schemas"]["M"]["properties"]
    assert props["const"] == {"type": "integer", "nullable": True}  # a field named const
    assert props["ref"] == {"nullable": True, "allOf": [{"$ref": "#/components/schemas/N"}]}
    assert props["two"] == {"nullable": True, "anyOf": [{"type": "integer"}, {"type": "string"}]}
    assert props["kind"] == {"type": "string", "enum": ["a"]}
    assert props["n"] == {"type": "number", "minimum": 0, "exclusiveMinimum": True, "example": 3}
    assert out["openapi"] == "3.0.3" and doc["openapi"] == "3.1.0"
    assert doc["components"]["schemas"]["M"]["properties"]["kind"] == {
        "const": "a",
        "type": "string",
    }


def test_invalid_title_is_escaped_in_the_page() -> None:
    page = compute_docs_page('<script>alert("x")</script>', "/p")
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    assert 'src="/p/docs/static/swagger-ui-bundle.js"' in page
