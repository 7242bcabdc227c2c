"""``GET /blocks/{height}/header``: a block's header without its transactions, and the
SDK's proof checks reading it instead of the whole block (issue 14)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from carchain.errors import InvalidProof
from carchain.sdk.client import Client
from tests.api.test_api import Api, _api, assert_error
from tests.conftest import seeded_key
from tests.core.test_vehicles import register_body

HEADER_FIELDS = ("height", "hash", "time_ms", "prev_hash", "tx_root", "app_hash", "proposer")


@pytest.fixture
def idle(tmp_path: Path) -> Iterator[Api]:
    """The API with no block loop: blocks only when the test makes one."""
    yield from _api(tmp_path, loop=False)


def _two_blocks(api: Api) -> None:
    """Block 1 with two transactions, block 2 with one."""
    first = api.nonce(seeded_key("saic")) + 1
    for i, vid in enumerate(("saic:1", "saic:2")):  # both pending, so both in block 1
        assert api.post(api.tx("saic", register_body(vid), first + i)).status_code == 200
    assert api.node.produce_block() is not None
    assert api.post(api.tx("saic", register_body("saic:3"))).status_code == 200
    assert api.node.produce_block() is not None


def test_header_is_the_blocks_header_without_transactions(idle: Api) -> None:
    _two_blocks(idle)
    for height, count in ((1, 2), (2, 1)):
        block, header = idle.get(f"/blocks/{height}"), idle.get(f"/blocks/{height}/header")
        assert {k: header[k] for k in HEADER_FIELDS} == {k: block[k] for k in HEADER_FIELDS}
        assert header["tx_count"] == count == len(block["txs"])
        stored = idle.node.engine.get_header(height)
        assert stored is not None and header["results_hash"] == stored.results_hash.hex()
        assert set(header) == {*HEADER_FIELDS, "tx_count", "results_hash"}
    assert idle.get("/blocks/2/header")["prev_hash"] == idle.get("/blocks/1/header")["hash"]


@pytest.mark.parametrize(
    ("height", "status", "code"),
    [("0", 400, "bad_request"), ("-3", 400, "bad_request"), ("3", 404, "not_found"),
     (str(2**63), 404, "not_found"), ("x", 422, "bad_request")],
)  # fmt: skip
def test_invalid_header_heights_fail_as_the_block_route_does(
    idle: Api, height: str, status: int, code: str
) -> None:
    _two_blocks(idle)
    assert_error(idle.http.get(f"/blocks/{height}/header"), status, code)
    assert_error(idle.http.get(f"/blocks/{height}"), status, code)


def _proxied_sdk(api: Api, seen: list[str], tamper: bool = False) -> Client:
    """Return an SDK client whose requests go through a transport that records each path
    and, with ``tamper``, flips a bit of every header's app hash."""

    def forward(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        resp = api.http.request(request.method, request.url.path, params=request.url.params)
        if not (tamper and request.url.path.endswith("/header")):
            return httpx.Response(resp.status_code, content=resp.content, headers=resp.headers)
        doc = resp.json()
        doc["app_hash"] = f"{int(doc['app_hash'][0], 16) ^ 1:x}" + doc["app_hash"][1:]
        return httpx.Response(200, json=doc)

    client = Client("http://testserver")
    transport = httpx.MockTransport(forward)
    client._http = httpx.Client(base_url="http://testserver", transport=transport)
    return client


def test_query_verified_fetches_the_header_not_the_block(idle: Api) -> None:
    _two_blocks(idle)
    seen: list[str] = []
    with _proxied_sdk(idle, seen) as client:
        v = client.query_verified("vehicles", b"v/saic:1")
    assert v.app_hash.hex() == idle.get(f"/blocks/{v.height}/header")["app_hash"]
    assert f"/blocks/{v.height}/header" in seen
    assert not [p for p in seen if re.fullmatch(r"/blocks/\d+", p)], seen


def test_invalid_tampered_header_app_hash_fails_the_proof(idle: Api) -> None:
    _two_blocks(idle)
    seen: list[str] = []
    with _proxied_sdk(idle, seen, tamper=True) as client, pytest.raises(InvalidProof):
        client.query_verified("vehicles", b"v/saic:1")
    assert any(p.endswith("/header") for p in seen)
