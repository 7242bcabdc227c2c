"""Fuzzing the REST API: random paths, parameters and bodies always get a 2xx or
a 4xx with an error code document, never a 500, and never change state."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carchain.api.app import create_app
from carchain.node.solo_node import SoloNode
from carchain.sdk.transactions import build_tx
from carchain.storage.database import Database
from tests.conftest import CHAIN_ID, make_genesis, seeded_key, snapshot
from tests.core.test_vehicles import register_body

FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

segment = st.one_of(
    st.text(min_size=0, max_size=40),
    st.sampled_from(
        [
            "saic",
            "v",
            "0",
            "-1",
            "1",
            "9" * 30,
            "ab" * 32,
            "%ff",
            "%00",
            "..",
            "vehicles",
            "members",
            "nan",
            "1e9",
        ]
    ),
    st.integers(-(2**70), 2**70).map(str),
)
ROUTES = [
    "/status",
    "/txs",
    "/txs/batch",
    "/txs/{}",
    "/blocks/{}",
    "/state/{}",
    "/members",
    "/members/{}",
    "/vehicles",
    "/vehicles/{}",
    "/proposals/{}",
    "/accounts/{}",
    "/{}",
    "/{}/{}",
]
param_names = st.sampled_from(
    ["key", "key_hex", "prove", "limit", "after", "oem", "mode", "timeout", "x"]
)
param_values = st.one_of(
    st.text(max_size=60),
    st.sampled_from(["true", "false", "0", "1000", "1001", "-1", "nan", "inf", "commit", "sync"]),
    st.integers(-(2**70), 2**70).map(str),
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=50),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[tuple[TestClient, SoloNode]]:
    db = Database(tmp_path / "node.db")
    node = SoloNode(db)
    node.app.init_chain(make_genesis())
    raw = build_tx(CHAIN_ID, seeded_key("saic"), 1, register_body())
    assert node.engine.submit(raw).ok
    node.produce_block()
    with TestClient(create_app(node), raise_server_exceptions=False) as http:
        yield http, node
    db.close()


def check_response(resp: Any) -> None:
    assert resp.status_code != 500 and resp.status_code < 500, (resp.status_code, resp.text)
    if resp.status_code >= 300:
        doc = resp.json()
        assert isinstance(doc, dict) and isinstance(doc.get("error"), dict), doc
        assert isinstance(doc["error"].get("code"), str) and doc["error"]["code"], doc


def test_fuzz_get_routes(client: tuple[TestClient, SoloNode]) -> None:
    http, node = client
    before = (snapshot(node.app.db), node.app.state.app_hash)

    @FUZZ
    @given(
        st.sampled_from(ROUTES),
        st.lists(segment, min_size=2, max_size=2),
        st.dictionaries(param_names, param_values, max_size=4),
        st.sampled_from(["GET", "GET", "POST", "DELETE", "PUT"]),
    )
    def run(route: str, parts: list[str], params: dict[str, str], method: str) -> None:
        path = route.format(*[quote(p, safe="%") for p in parts])
        check_response(http.request(method, path, params=params))

    run()
    assert (snapshot(node.app.db), node.app.state.app_hash) == before


def test_fuzz_submit_bodies(client: tuple[TestClient, SoloNode]) -> None:
    http, node = client
    valid = base64.b64encode(build_tx(CHAIN_ID, seeded_key("saic"), 2, register_body("saic:s-2")))

    @FUZZ
    @given(
        st.one_of(
            json_values,
            st.fixed_dictionaries({"tx": st.text(max_size=80)}),
            st.fixed_dictionaries(
                {"tx": st.binary(max_size=300).map(lambda b: base64.b64encode(b).decode())}
            ),
            st.fixed_dictionaries({"txs": st.lists(st.text(max_size=30), max_size=4)}),
            st.binary(max_size=64).map(lambda b: valid[: len(b)].decode()).map(lambda s: {"tx": s}),
        ),
        st.sampled_from(["/txs", "/txs/batch"]),
        st.dictionaries(st.sampled_from(["mode", "timeout"]), param_values, max_size=2),
        st.booleans(),
    )
    def run(body: Any, path: str, params: dict[str, str], raw_bytes: bool) -> None:
        if params.get("mode") == "commit":
            params["timeout"] = "0.01"  # nothing produces blocks here
        app_hash = node.app.state.app_hash
        if raw_bytes:
            content = json.dumps(body).encode()[::-1]  # rarely valid JSON
            resp = http.post(path, params=params, content=content)
        else:
            resp = http.post(path, params=params, json=body)
        check_response(resp)
        assert node.app.state.app_hash == app_hash  # only blocks change state

    run()
