"""The explorer's static files, without a browser: served at /explorer with a strict
Content-Security-Policy, every asset local (no CDN, no external URL), data never
parsed as HTML, and every file shipped as package data."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient

from carchain.api.app import create_app
from carchain.api.routes.explorer import MEDIA_TYPES, list_assets
from carchain.node.backend import NodeBackend

ROOT = Path(__file__).resolve().parents[2]
FOLDER = Path(str(resources.files("carchain.api").joinpath("explorer")))
# The one URL-shaped string allowed: the SVG namespace, an identifier the DOM
# needs to create SVG elements (never fetched).
SVG_NAMESPACE = "http://www.w3.org/2000/svg"
URL_RE = re.compile(r"(?:https?:|wss?:|ftp:)?//[a-z0-9][a-z0-9.-]*\.[a-z]{2,}", re.IGNORECASE)


@pytest.fixture(scope="module")
def http() -> TestClient:
    """A client of the node app (the explorer's routes never touch the backend)."""
    return TestClient(create_app(cast(NodeBackend, object())))


def asset_names() -> list[str]:
    return sorted(p.name for p in FOLDER.iterdir() if p.suffix in MEDIA_TYPES)


def test_the_folder_holds_the_page_its_modules_and_stylesheet() -> None:
    names = asset_names()
    assert {"index.html", "app.js", "style.css", "charts.js", "dom.js", "api.js"} <= set(names)
    assert sorted(list_assets()) == names


def test_explorer_redirects_to_the_page_with_a_trailing_slash(http: TestClient) -> None:
    resp = http.get("/explorer", follow_redirects=False)
    assert resp.status_code == 307
    assert resp.headers["location"] == "/explorer/"


def check_security_headers(headers: Any) -> None:
    csp = headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in csp and "*" not in csp and "http" not in csp
    assert headers["x-content-type-options"] == "nosniff"


def test_the_page_is_served_with_a_strict_csp(http: TestClient) -> None:
    resp = http.get("/explorer/")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/html")
    check_security_headers(resp.headers)
    assert '<script type="module" src="app.js"></script>' in resp.text


@pytest.mark.parametrize("name", asset_names())
def test_every_asset_is_served_with_its_type_and_the_csp(http: TestClient, name: str) -> None:
    resp = http.get(f"/explorer/{name}")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == MEDIA_TYPES[Path(name).suffix]
    check_security_headers(resp.headers)
    assert resp.content == (FOLDER / name).read_bytes()


@pytest.mark.parametrize(
    "path",
    [
        "/explorer/nope.js",
        "/explorer/__init__.py",
        "/explorer/..%2Froutes%2Fexplorer.py",
        "/explorer/%2E%2E%2Fapp.py",
        "/explorer/index.html%00.js",
        "/explorer/sub/app.js",
    ],
)
def test_anything_else_is_a_typed_404(http: TestClient, path: str) -> None:
    resp = http.get(path)
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("name", asset_names())
def test_no_asset_names_an_external_url(name: str) -> None:
    text = (FOLDER / name).read_text()
    found = [m.group(0) for m in URL_RE.finditer(text.replace(SVG_NAMESPACE, ""))]
    assert found == []
    assert "cdn" not in text.lower()
    assert "@import" not in text and "url(" not in text


def test_the_url_check_catches_a_cdn_reference() -> None:
    samples = ['<script src="https://cdn.jsdelivr.net/x.js">', "@import '//fonts.example.com/a';"]
    assert all(URL_RE.search(s) for s in samples)


@pytest.mark.parametrize("name", [n for n in asset_names() if n.endswith(".js")])
def test_scripts_never_parse_data_as_html(name: str) -> None:
    text = (FOLDER / name).read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in text, sink
    assert "new Function" not in text


def test_the_page_has_no_inline_script_or_style() -> None:
    html = (FOLDER / "index.html").read_text()
    assert re.search(r"<script(?![^>]*\bsrc=)", html) is None
    assert re.search(r"\sstyle=", html) is None and "<style" not in html
    assert re.search(r"\son[a-z]+=", html) is None


def test_every_local_reference_resolves() -> None:
    names = set(asset_names())
    html = (FOLDER / "index.html").read_text()
    refs = set(re.findall(r'(?:src|href)="([^"#:]+)"', html))
    for js in (n for n in names if n.endswith(".js")):
        refs |= set(re.findall(r'from "\./([^"]+)"', (FOLDER / js).read_text()))
    assert refs and refs <= names


def test_every_asset_ships_as_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = config["tool"]["setuptools"]["package-data"]["carchain"]
    for name in asset_names():
        rel = f"api/explorer/{name}"
        assert any(fnmatch.fnmatch(rel, g) for g in globs), rel
