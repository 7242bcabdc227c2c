"""CometRpc reads any answer of CometBFT's RPC as a result or a typed error."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from carchain.errors import ConsensusUnavailable
from carchain.network.rpc import CometRpc


def _call(body: bytes) -> object:
    rpc = CometRpc("http://127.0.0.1:9")
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    rpc._client = httpx.AsyncClient(transport=transport)

    async def run() -> object:
        try:
            return await rpc.call("status", {})
        finally:
            await rpc.aclose()

    return asyncio.run(run())


@pytest.mark.parametrize("body", [b"[" * 20_000, b'{"result":' * 20_000, b"not json", b"[1]"])
def test_an_unreadable_rpc_answer_is_consensus_unavailable(body: bytes) -> None:
    with pytest.raises(ConsensusUnavailable):
        _call(body)


def test_a_readable_rpc_answer_gives_its_result() -> None:
    assert _call(b'{"jsonrpc":"2.0","id":1,"result":{"height":"3"}}') == {"height": "3"}
