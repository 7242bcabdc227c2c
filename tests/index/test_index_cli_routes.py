"""``carchain index run|status`` as a member runs them, and the API's unproven ``/index``
routes: filters, paging, bad input and an absent or unreachable index as typed errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from carchain.api.app import create_app
from carchain.cli import common
from carchain.cli.main import app
from carchain.index.follower import run_indexer
from carchain.index.queries import AuditIndex
from carchain.index.source import BackendSource
from carchain.index.store import IndexStore
from carchain.sdk.client import Client
from tests.access_log_chain import LogChain, log_chain, test_tx_type

__all__ = ["log_chain", "test_tx_type"]


class _InProcess(Client):
    def close(self) -> None:
        return None


@pytest.fixture
def chain(log_chain: LogChain, monkeypatch: pytest.MonkeyPatch) -> LogChain:
    def make(_: str) -> Client:
        c = _InProcess("http://testserver")
        c._http = log_chain.http
        return c

    monkeypatch.setattr(common, "client", make)
    log_chain.register("saic:1")
    log_chain.register("geely:1")
    log_chain.append("saic:1", 3, "grant")
    log_chain.append("geely:1", 2, "refused")
    return log_chain


def cli(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(app, list(args), env={"NO_COLOR": "1", "COLUMNS": "200"})
    assert result.exit_code == code, (args, result.output, result.exception)
    assert "Traceback" not in result.output
    return result.output


def test_index_run_then_status_then_rerun(chain: LogChain, pg_dsn: str) -> None:
    height = chain.node.status().height
    out = cli("index", "run", "--dsn", pg_dsn, "--batch", "2")
    assert f"index at height {height}" in out and "indexed heights 1..2" in out
    assert cli("index", "status", "--dsn", pg_dsn).strip() == f"index at height {height}"
    # Caught up: nothing to write; --from-height re-indexes without duplicating.
    assert "indexed heights" not in cli("index", "run", "--dsn", pg_dsn)
    cli("index", "run", "--dsn", pg_dsn, "--from-height", "2")
    store = IndexStore.open(pg_dsn)
    try:
        assert store.conn.execute("SELECT count(*) FROM access_log").fetchone() == (5,)
        assert store.conn.execute("SELECT count(*) FROM blocks").fetchone() == (height,)
        # A height the node does not hold: refused before anything is dropped (a review).
        out = cli("index", "run", "--dsn", pg_dsn, "--from-height", str(height + 50), code=1)
        assert out.startswith("error ")
        assert store.conn.execute("SELECT count(*) FROM blocks").fetchone() == (height,)
        assert store.get_cursor() == height
    finally:
        store.close()


@pytest.mark.parametrize("command", ["run", "status"])
def test_index_cli_with_an_unreachable_index_is_one_error_line(
    chain: LogChain, command: str
) -> None:
    out = cli("index", command, "--dsn", "host=/nonexistent-carchain dbname=x", code=1)
    assert out.startswith("error index_unavailable:") and len(out.strip().splitlines()) == 1


@pytest.fixture
def api(chain: LogChain, pg_dsn: str) -> Iterator[TestClient]:
    store = IndexStore.open(pg_dsn)
    try:
        run_indexer(BackendSource(chain.node), store, follow=False)
    finally:
        store.close()
    reader = AuditIndex(pg_dsn)
    try:
        with TestClient(create_app(chain.node, None, reader), raise_server_exceptions=False) as c:
            yield c
    finally:
        reader.close()


def get(http: TestClient, path: str, status: int = 200, **params: Any) -> Any:
    resp = http.get(path, params=params)
    assert resp.status_code == status, resp.text
    return resp.json()


def test_events_route_filters_and_pages_newest_first(api: TestClient) -> None:
    every = get(api, "/index/events", limit=100)["events"]
    ids = [tuple(int(x) for x in e["id"].split(":")) for e in every]
    assert ids == sorted(ids, reverse=True) and len(ids) > 4
    registered = get(api, "/index/events", type="vehicle_registered")["events"]
    assert {e["attributes"]["vehicle_id"] for e in registered} == {"saic:1", "geely:1"}
    geely = get(api, "/index/events", vehicle="geely:1")["events"]
    assert geely and all(e["attributes"].get("vehicle_id") == "geely:1" for e in geely)
    first = get(api, "/index/events", limit=2)
    rest = get(api, "/index/events", limit=100, before=first["next_before"])["events"]
    assert [e["id"] for e in first["events"] + rest] == [e["id"] for e in every]


def test_actor_route_finds_what_a_signer_did(api: TestClient) -> None:
    # The test transaction logs no actor member; a member with no entries has an empty page.
    assert get(api, "/index/actors/police/access-log")["events"] == []


def test_oem_page_of_a_vehicle_without_entries_is_empty(api: TestClient) -> None:
    page = get(api, "/index/vehicles/saic:404/access-log")
    assert page == {"indexed_height": page["indexed_height"], "proven": False, "events": [],
                    "next_before": None}  # fmt: skip


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/index/vehicles/saic:1/access-log", {"limit": 0}),
        ("/index/vehicles/saic:1/access-log", {"limit": 101}),
        ("/index/members/saic/access-log", {"before": -1}),
        ("/index/events", {"before": "1:2"}),
        ("/index/events", {"limit": 0}),
        ("/index/vehicles/saic:%001/access-log", {}),
        ("/index/events", {"type": "a\x00b"}),
    ],
)
def test_bad_input_is_a_typed_400(api: TestClient, path: str, params: dict[str, Any]) -> None:
    body = get(api, path, 400, **params)
    assert body["error"]["code"] in {"bad_request", "invalid_event_cursor"}


def test_an_api_without_an_index_says_so(chain: LogChain) -> None:
    body = get(chain.http, "/index/events", 503)
    assert body["error"]["code"] == "index_unavailable"


def test_an_unreachable_index_is_a_503_not_a_crash(chain: LogChain) -> None:
    reader = AuditIndex("host=/nonexistent-carchain dbname=x")
    with TestClient(create_app(chain.node, None, reader), raise_server_exceptions=False) as c:
        body = get(c, "/index/members/saic/access-log", 503)
    assert body["error"]["code"] == "index_unavailable"
