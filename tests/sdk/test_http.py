"""The SDK clients share one request path: typed errors, JSON decoding, unreachable servers."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator

import httpx
import pytest

from carchain.core.access import AccessRequest
from carchain.errors import CarchainError, InvalidNonce, NodeUnavailable, NotFound
from carchain.sdk.client import Client
from carchain.sdk.gateway_client import GatewayClient
from carchain.sdk.http import HttpService
from carchain.sdk.owner_release import get_window_batches


def _with(service: HttpService, handler: httpx.MockTransport) -> HttpService:
    service._http.close()
    service._http = httpx.Client(base_url=service.url, transport=handler)
    return service


def _answer(status: int, **kw: object) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(status, **kw))  # type: ignore[arg-type]


ERROR_DOC = {"error": {"code": "invalid_nonce", "message": "nonce used", "fields": {"expected": 4}}}


@pytest.mark.parametrize(
    "make", [lambda: Client("http://127.0.0.1:1"), lambda: GatewayClient("http://127.0.0.1:1")]
)
def test_invalid_answers_raise_the_servers_typed_error(make: object) -> None:
    client = _with(make(), _answer(409, json=ERROR_DOC))  # type: ignore[operator]
    with pytest.raises(InvalidNonce) as info:
        client.status()  # type: ignore[attr-defined]
    assert info.value.message == "nonce used" and info.value.fields == {"expected": 4}
    client = _with(make(), _answer(404, json={"error": {"code": "not_found", "message": "x"}}))  # type: ignore[operator]
    with pytest.raises(NotFound):
        client.status()  # type: ignore[attr-defined]


def test_invalid_answer_without_error_document_names_the_service() -> None:
    gateway = _with(GatewayClient("http://127.0.0.1:1"), _answer(502, content=b"<html>"))
    with pytest.raises(CarchainError, match=r"gateway at .* answered HTTP 502") as info:
        gateway.status()  # type: ignore[attr-defined]
    assert type(info.value) is NodeUnavailable  # never "internal": a wrong URL is the user's
    node = _with(Client("http://127.0.0.1:1"), _answer(500, json=["not", "a", "dict"]))
    with pytest.raises(CarchainError, match=r"node at .* answered HTTP 500"):
        node.status()  # type: ignore[attr-defined]


def test_ok_answer_that_is_not_json_reads_as_empty() -> None:
    node = _with(Client("http://127.0.0.1:1"), _answer(200, content=b"not json"))
    assert node.status() == {}  # type: ignore[attr-defined]


def test_expected_status_is_returned_not_raised() -> None:
    node = _with(Client("http://127.0.0.1:1"), _answer(404, json={"state": "unknown"}))
    assert node._request("GET", "/txs/00", ok=(200, 404)) == {"state": "unknown"}


def test_unreachable_server_is_node_unavailable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    for client, service in (
        (Client("http://127.0.0.1:1"), "node"),
        (GatewayClient("http://127.0.0.1:1"), "gateway"),
    ):
        _with(client, httpx.MockTransport(refuse))
        with pytest.raises(NodeUnavailable, match=f"cannot reach {service}"):
            client.status()  # type: ignore[attr-defined]
        client.close()


@pytest.mark.parametrize("status", [200, 400, 500])
def test_deeply_nested_json_answer_is_no_document_not_a_recursion_error(status: int) -> None:
    client = _with(Client("http://127.0.0.1:1"), _answer(status, content=b'{"error":' * 20_000))
    if status == 200:
        assert client.status() == {}
    else:
        with pytest.raises(CarchainError, match=r"node at .* answered HTTP"):
            client.status()


LISTINGS = [
    (lambda c: c.members(), "members"),
    (lambda c: c.vehicles(), "vehicles"),
]


@pytest.mark.parametrize(
    "body",
    [{}, {"members": None, "vehicles": None}, {"members": [1], "vehicles": ["x"]}, [1], "text"],
)
@pytest.mark.parametrize(("call", "name"), LISTINGS)
def test_invalid_listing_answer_is_a_typed_error(body: object, call: object, name: str) -> None:
    """A node answering a listing without its list of objects gives ``NodeUnavailable``."""
    client = _with(Client("http://127.0.0.1:1"), _answer(200, json=body))
    with pytest.raises(NodeUnavailable):
        call(client)  # type: ignore[operator]


@pytest.mark.parametrize("body", [{}, {"batches": "x"}, {"batches": [1]}, [1], "[" * 20_000])
def test_invalid_gateway_answers_are_typed_errors(body: object) -> None:
    """The gateway client reads only JSON objects (and listings of objects) from a gateway."""
    kw = {"content": body} if isinstance(body, str) else {"json": body}
    gw = _with(GatewayClient("http://127.0.0.1:1", oem="saic"), _answer(200, **kw))
    assert isinstance(gw, GatewayClient)
    with pytest.raises(NodeUnavailable):
        gw.batches("saic:1")
    if isinstance(body, list):
        with pytest.raises(NodeUnavailable):
            gw.batch(b"\x00" * 32)
        with pytest.raises(NodeUnavailable):
            gw.batch_proof(b"\x00" * 32)
        with pytest.raises(NodeUnavailable):
            gw.status()


def test_listing_answers_are_read() -> None:
    member = {"member_id": "saic"}
    client = _with(Client("http://127.0.0.1:1"), _answer(200, json={"members": [member]}))
    assert isinstance(client, Client) and client.members() == [member]


def _endless(request: httpx.Request) -> httpx.Response:
    def chunks() -> Iterator[bytes]:
        while True:  # a hostile server's body never ends
            yield b"x" * 65536

    return httpx.Response(200, content=chunks())


@pytest.mark.parametrize(
    "make", [lambda: Client("http://127.0.0.1:1"), lambda: GatewayClient("http://127.0.0.1:1")]
)
def test_an_endless_answer_is_refused_at_the_bound(make: Callable[[], HttpService]) -> None:
    service = make()
    service.max_response_bytes = 1 << 20
    client = _with(service, httpx.MockTransport(_endless))
    with pytest.raises(NodeUnavailable, match="over 1048576 bytes"):
        client.status()  # type: ignore[attr-defined]


def test_a_decompression_bomb_is_refused_by_its_decoded_size() -> None:
    bomb = gzip.compress(b"\0" * (8 << 20))  # 8 KiB on the wire, 8 MiB decoded
    node = _with(
        Client("http://127.0.0.1:1"),
        _answer(200, content=bomb, headers={"content-encoding": "gzip"}),
    )
    node.max_response_bytes = 1 << 20
    assert len(bomb) < node.max_response_bytes
    with pytest.raises(NodeUnavailable, match="over"):
        node.status()


def test_a_compressed_answer_within_the_bound_reads_as_usual() -> None:
    doc = {"chain_id": "c", "height": 7}
    body = gzip.compress(json.dumps(doc).encode())
    headers = {"content-encoding": "gzip", "content-type": "application/json"}
    node = _with(Client("http://127.0.0.1:1"), _answer(200, content=body, headers=headers))
    assert node.status() == doc
    gateway = _with(GatewayClient("http://127.0.0.1:1"), _answer(200, content=b"\1" * 1000))
    assert gateway.ciphertext(b"\0" * 32) == b"\1" * 1000


@pytest.mark.parametrize("number", [b"1e400", b"-1e400", b"NaN", b"Infinity"])
def test_a_number_out_of_a_floats_range_makes_the_answer_unreadable(number: bytes) -> None:
    # 1e400 decoded as an infinite float, and int() of it raised OverflowError in the
    # SDK (the owner's release read a gateway's batch times so).
    listing = b'{"batches": [{"header_hash": "' + b"00" * 32 + b'", "start_ms": ' + number
    listing += b', "end_ms": 5, "categories": ["motion"]}]}'
    gateway = _with(GatewayClient("http://127.0.0.1:1", oem="saic"), _answer(200, content=listing))
    request = AccessRequest("saic:1", 0, b"r" * 32, "insurer1", ["motion"], 0, 10, "claims", 1,
                            1, "approved", "", [])  # fmt: skip
    with pytest.raises(NodeUnavailable, match="no list of batches"):
        get_window_batches(gateway, request)  # type: ignore[arg-type]


def test_finite_numbers_read_as_before() -> None:
    node = _with(Client("http://127.0.0.1:1"), _answer(200, content=b'{"a": 1.5e3, "b": -2}'))
    assert node.status() == {"a": 1500.0, "b": -2}
