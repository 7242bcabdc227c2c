"""Account continues from ``InvalidNonce.expected`` only when the node's value can be a nonce."""

from __future__ import annotations

import base64
import json

import httpx
import msgspec
import pytest

from carchain.errors import InvalidNonce
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
