"""The SDK clients share one request path: typed errors, JSON decoding, unreachable servers."""

from __future__ import annotations

import httpx
import pytest

from carchain.errors import CarchainError, InvalidNonce, NodeUnavailable, NotFound
from carchain.sdk.client import Client
from carchain.sdk.gateway_client import GatewayClient
from carchain.sdk.http import HttpService


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
