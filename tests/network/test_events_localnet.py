"""The event stream on a CometBFT network: a follower on one node sees the events of
a transaction submitted through another, as CometBFT commits its block, and every
node serves the same events under the same ids."""

from __future__ import annotations

import pytest

from carchain.sdk.account import Account
from carchain.sdk.client import Client
from tests.network.conftest import Localnet, wait_for
from tests.network.test_localnet import register

pytestmark = pytest.mark.network


def test_follower_sees_committed_events_and_every_node_agrees(net: Localnet) -> None:
    with Client(net.nodes[0].api_url) as follower, Client(net.nodes[2].api_url) as submitter:
        start = int(follower.status()["height"]) + 1
        stream = follower.events(member="geely", from_height=start, follow=True)
        res = register(Account(submitter, net.created.member_keys["geely"]), "geely:ev-1")
        got = [next(stream) for _ in range(2)]
        stream.close()
    height = int(res["height"])
    assert [(e.type, e.height, e.tx_hash) for e in got] == [
        ("tx", height, res["hash"]),
        ("vehicle_registered", height, res["hash"]),
    ]
    assert got[1].attributes == {"oem": "geely", "vehicle_id": "geely:ev-1"}
    for node in net.nodes:
        with Client(node.api_url) as c:
            wait_for(
                lambda c=c: int(c.status()["height"]) >= height, 30, f"{node.name} at {height}"
            )
            same = list(c.events(vehicle="geely:ev-1", from_height=start, follow=False))
        assert [e.id for e in same] == [got[1].id], node.name
