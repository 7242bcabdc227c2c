"""The node's published reports (``/reports``): the files of its home's ``reports/``
folder listed and served with their media type and a CSP that lets a report load
nothing from elsewhere; every other name (a folder, a hidden file, a symlink, another
suffix, a path) is 404 ``not_found`` and never read; no folder means no reports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from carchain.api.app import create_app
from carchain.node.solo_node import SoloNode
from carchain.storage.database import Database
from tests.api.test_api import assert_error
from tests.conftest import make_genesis

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def open_api(tmp_path: Path, reports: Path | None) -> Iterator[TestClient]:
    tmp_path.mkdir(exist_ok=True)
    db = Database(tmp_path / "node.db")
    node = SoloNode(db, block_interval_s=0.02)
    node.app.init_chain(make_genesis())
    try:
        with TestClient(create_app(node, reports), raise_server_exceptions=False) as http:
            yield http
    finally:
        db.close()


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    folder = tmp_path / "reports"
    folder.mkdir()
    (folder / "incident.html").write_text("<!doctype html><h1>The crash</h1>")
    (folder / "incident.png").write_bytes(PNG)
    return folder


@pytest.fixture
def http(tmp_path: Path, reports: Path) -> Iterator[TestClient]:
    yield from open_api(tmp_path, reports)


def test_lists_the_published_files(http: TestClient) -> None:
    resp = http.get("/reports")
    assert resp.status_code == 200
    listed = {r["name"]: r for r in resp.json()["reports"]}
    assert set(listed) == {"incident.html", "incident.png"}
    assert listed["incident.png"] == {
        "name": "incident.png", "media_type": "image/png", "bytes": len(PNG),
        "url": "/reports/incident.png",
    }  # fmt: skip


def test_serves_each_file_with_its_type_and_a_closed_csp(http: TestClient) -> None:
    page = http.get("/reports/incident.html")
    assert page.status_code == 200 and "The crash" in page.text
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    png = http.get("/reports/incident.png")
    assert png.status_code == 200 and png.content == PNG
    assert png.headers["content-type"] == "image/png"


def test_a_new_file_is_published_without_a_restart(http: TestClient, reports: Path) -> None:
    (reports / "case-2.svg").write_text("<svg/>")
    assert "case-2.svg" in {r["name"] for r in http.get("/reports").json()["reports"]}
    page = http.get("/reports/case-2.svg")
    assert page.text == "<svg/>" and page.headers["content-type"] == "image/svg+xml"


@pytest.mark.parametrize(
    "name",
    [
        ".hidden.html",
        "notes.txt",
        "script.js",
        "Incident.html",
        "sub",
        "linked.html",
        "missing.png",
    ],
)
def test_invalid_names_are_not_found_and_not_listed(
    http: TestClient, reports: Path, tmp_path: Path, name: str
) -> None:
    (reports / ".hidden.html").write_text("secret")
    (reports / "notes.txt").write_text("secret")
    (reports / "script.js").write_text("alert(1)")
    (reports / "data.json").write_text("{}")
    (reports / "Incident.html").write_text("secret")
    (reports / "sub").mkdir()
    (tmp_path / "outside.html").write_text("secret")
    (reports / "linked.html").symlink_to(tmp_path / "outside.html")
    assert_error(http.get(f"/reports/{name}"), 404, "not_found")
    assert name not in {r["name"] for r in http.get("/reports").json()["reports"]}


@pytest.mark.parametrize(
    "path", ["/reports/../node.db", "/reports/%2e%2e%2fnode.db", "/reports/sub/x.html"]
)
def test_paths_out_of_the_folder_are_refused(http: TestClient, path: str) -> None:
    resp = http.get(path)
    assert resp.status_code == 404
    assert b"SQLite" not in resp.content


def test_no_folder_means_no_reports(tmp_path: Path) -> None:
    for folder in (None, tmp_path / "absent"):
        for http in open_api(tmp_path / str(folder is None), folder):
            assert http.get("/reports").json() == {"reports": []}
            assert_error(http.get("/reports/incident.html"), 404, "not_found")
