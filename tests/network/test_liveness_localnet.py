"""Governance cannot hand the chain to a key no node runs, on a real 4-validator localnet.

Before the fix, ``add_member`` with a random validator key and power 1,000,000
executed: from H+2 the key held almost all the power, no block could gather
more than 2/3 of it, and every node stopped committing for good.
"""

from __future__ import annotations

import base64

import pytest

from carchain.core import governance as gov
from carchain.core.transactions import compute_tx_hash
from carchain.crypto.signing import SigningKey
from carchain.sdk.account import Account
from carchain.sdk.client import Client
from tests.network.conftest import Localnet, get_height, rpc_get, wait_for
from tests.network.test_validator_updates import open_proposal

pytestmark = pytest.mark.network


def get_validators(net: Localnet, height: int) -> dict[bytes, int]:
    res = rpc_get(net.nodes[0], "validators", height=height, per_page=100)
    return {
        base64.b64decode(v["pub_key"]["value"]): int(v["voting_power"]) for v in res["validators"]
    }


def carry(net: Localnet, action: gov.Action) -> tuple[int, int]:
    """Propose ``action`` and vote it through (6 of 8 members); return its id and height."""
    keys = net.created.member_keys
    pid = open_proposal(net, action)
    with Client(net.nodes[1].api_url) as c:
        tx = Account(c, keys["audit-cn"]).build(gov.Vote(pid, True))
        assert c.submit_batch([tx])["accepted"] == 1

        def committed() -> int | None:
            st = c.tx(compute_tx_hash(tx))
            return int(st["height"]) if st["state"] == "committed" else None

        return pid, wait_for(committed, 60, "the deciding vote committed")


def test_dead_key_with_a_million_power_is_refused_and_the_chain_goes_on(net: Localnet) -> None:
    before = get_validators(net, get_height(net.nodes[0]))
    dead = SigningKey.generate().public_key  # a validator key no node runs
    member = SigningKey.generate().public_key
    action = gov.AddMember("mallory", "Mallory", ["oem"], member, dead, 1_000_000)
    pid, h = carry(net, action)
    with Client(net.nodes[2].api_url) as c:
        proposal = c.proposal(pid)
    assert proposal["status"] == "failed"
    assert str(proposal["outcome"]).startswith("liveness_violation")
    # Every node keeps committing well past H+2, when the key would have taken over ...
    for node in net.nodes:
        wait_for(lambda node=node: get_height(node) >= h + 3, 60, f"{node.name} past {h}")
    # ... and CometBFT's set never saw the key.
    assert get_validators(net, h + 2) == before
    assert dead not in before
