"""Account continues from ``InvalidNonce.expected`` only when the node's value can be a nonce."""

from __future__ import annotations

import base64
import json

import httpx
import msgspec
import pytest

from carchain.errors import InvalidNonce, NodeUnavailable
from carchain.sdk.account import Account
from carchain.sdk.client import Client
from tests.conftest import CHAIN_ID, seeded_key
from tests.core.test_transactions import register_body

NODE_NONCE = 3


class HostileNode:
    """Answers the first submit with ``invalid_nonce`` naming ``expected``; accepts the rest."""

    def __init__(self, expected: object) -> None:
        self.expected = expected
        self.nonces: list[int] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/status":
            return httpx.Response(200, json={"chain_id": CHAIN_ID})
        if request.url.path.startswith("/accounts/"):
            return httpx.Response(200, json={"nonce": NODE_NONCE})
        raw = base64.b64decode(json.loads(request.content)["tx"])
        self.nonces.append(msgspec.msgpack.decode(raw)[3])
        if len(self.nonces) == 1:
            fields = {"expected": self.expected, "got": self.nonces[0]}
            err = {"code": "invalid_nonce", "message": "nonce used", "fields": fields}
            return httpx.Response(400, json={"error": err})
        return httpx.Response(200, json={"height": 1})


def _account(node: HostileNode) -> Account:
    client = Client("http://127.0.0.1:1")
    client._http.close()
    client._http = httpx.Client(base_url=client.url, transport=httpx.MockTransport(node))
    return Account(client, seeded_key("account-hostile"))


def _send_twice(node: HostileNode) -> list[int]:
    account = _account(node)
    with pytest.raises(InvalidNonce):
        account.send(register_body("saic:a"))
    account.send(register_body("saic:b"))
    return node.nonces


def test_a_plausible_expected_nonce_is_taken() -> None:
    assert _send_twice(HostileNode(9)) == [NODE_NONCE + 1, 9]


@pytest.mark.parametrize("expected", [0, -5, 2**63, 2**200, 1.5, "7", True])
def test_an_expected_nonce_no_transaction_can_carry_makes_the_account_ask_again(
    expected: object,
) -> None:
    assert _send_twice(HostileNode(expected)) == [NODE_NONCE + 1, NODE_NONCE + 1]


class HostileNonceNode(HostileNode):
    """Answers ``nonce`` (the raw JSON value) when asked for the signer's last nonce and
    accepts every transaction."""

    def __init__(self, nonce: object, present: bool = True) -> None:
        super().__init__(expected=None)
        self.nonce, self.present = nonce, present

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/accounts/"):
            return httpx.Response(200, json={"nonce": self.nonce} if self.present else {})
        if request.url.path == "/txs":
            raw = base64.b64decode(json.loads(request.content)["tx"])
            self.nonces.append(msgspec.msgpack.decode(raw)[3])
            return httpx.Response(200, json={"height": 1})
        return super().__call__(request)


@pytest.mark.parametrize("nonce", [-1, -(2**70), 2**63 - 1, 2**200, "5", 1.0, True, None, [1]])
def test_a_last_nonce_no_transaction_can_follow_is_a_typed_error_and_signs_nothing(
    nonce: object,
) -> None:
    node = HostileNonceNode(nonce)
    with pytest.raises(NodeUnavailable, match="no usable nonce"):
        _account(node).send(register_body("saic:a"))
    assert node.nonces == []


def test_an_answer_without_a_nonce_is_a_typed_error() -> None:
    with pytest.raises(NodeUnavailable):
        _account(HostileNonceNode(0, present=False)).send(register_body("saic:a"))


def test_the_last_nonce_at_the_edges_is_followed() -> None:
    for last in (0, 2**63 - 2):
        node = HostileNonceNode(last)
        assert _account(node).send(register_body("saic:a")) == {"height": 1}
        assert node.nonces == [last + 1]


class NoChainIdNode(HostileNode):
    """Answers ``status`` with ``doc``."""

    def __init__(self, doc: object) -> None:
        super().__init__(expected=None)
        self.doc = doc

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/status":
            return httpx.Response(200, json=self.doc)
        return super().__call__(request)


@pytest.mark.parametrize("doc", [{}, {"chain_id": ""}, {"chain_id": 7}, [1], "x"])
def test_a_status_without_a_chain_id_is_a_typed_error(doc: object) -> None:
    with pytest.raises(NodeUnavailable, match=r"without a chain id|no JSON object"):
        _account(NoChainIdNode(doc))
