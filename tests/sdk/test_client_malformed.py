"""``Client.query_verified`` gets its proof and header from an untrusted node: a
malformed answer is ``InvalidProof``, never a KeyError/ValueError (review of issue 7)."""

from __future__ import annotations

from typing import Any

import pytest

from carchain.errors import InvalidProof
from carchain.sdk.client import Client

GOOD: dict[str, Any] = {"value": "00", "height": 5, "proof_height": 5, "proof": []}


class FakeNode(Client):
    """A client whose node answers ``doc`` to every query and ``header_doc`` to every
    block header."""

    def __init__(self, doc: dict[str, Any], header_doc: dict[str, Any]) -> None:
        super().__init__("http://127.0.0.1:9")
        self.doc, self.header_doc = doc, header_doc

    def query(self, store: str, key: bytes, prove: bool = False, height: int = 0) -> Any:
        return self.doc

    def header(self, height: int) -> dict[str, Any]:
        return self.header_doc


@pytest.mark.parametrize(
    "doc, header",
    [
        ({k: v for k, v in GOOD.items() if k != "value"}, {"app_hash": "00" * 32}),
        ({**GOOD, "value": "zz"}, {"app_hash": "00" * 32}),
        ({**GOOD, "proof_height": "5"}, {"app_hash": "00" * 32}),
        ({**GOOD, "proof_height": True}, {"app_hash": "00" * 32}),
        ({**GOOD, "proof_height": -1}, {"app_hash": "00" * 32}),
        ({k: v for k, v in GOOD.items() if k not in ("height", "proof_height")}, {}),
        ({k: v for k, v in GOOD.items() if k != "proof"}, {"app_hash": "00" * 32}),
        (GOOD, {}),
        (GOOD, {"app_hash": 7}),
    ],
)
def test_invalid_malformed_node_answer(doc: dict[str, Any], header: dict[str, Any]) -> None:
    with FakeNode(doc, header) as client, pytest.raises(InvalidProof):
        client.query_verified("vehicles", b"v/saic:1")
