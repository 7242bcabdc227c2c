"""Two governance decisions touching one validator key in one block, on a real
4-validator localnet: CometBFT gets one update per key and the chain goes on.

Before the fix, FinalizeBlock returned two updates for the key, CometBFT refused
the block ("duplicate entry") and every node halted at that height for good.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from carchain.core import governance as gov
from carchain.core.transactions import compute_tx_hash
from carchain.sdk.account import Account
from carchain.sdk.client import Client
from tests.network.conftest import Localnet, get_height, rpc_get, wait_for

pytestmark = pytest.mark.network
ATTEMPTS = 3  # the two deciding votes are sent together; a block boundary may split them


def get_validators(net: Localnet, height: int) -> dict[bytes, int]:
    res = rpc_get(net.nodes[0], "validators", height=height, per_page=100)
    return {
        base64.b64decode(v["pub_key"]["value"]): int(v["voting_power"]) for v in res["validators"]
    }


def open_proposal(net: Localnet, action: gov.Action) -> int:
    """Propose ``action`` and gather 5 of the 6 yes votes it needs (8 members, 2/3)."""
    keys = net.created.member_keys
    with Client(net.nodes[0].api_url) as c:
        res = Account(c, keys["miit"]).send(gov.Propose(action))
        events = {e["type"]: e["attributes"] for e in res["result"]["events"]}
        pid = int(events["proposal_created"]["proposal_id"])
    for i, voter in enumerate(["saic", "geely", "vw-china", "bosch"]):
        with Client(net.nodes[i % len(net.nodes)].api_url) as c:
            Account(c, keys[voter]).send(gov.Vote(pid, True))
    with Client(net.nodes[0].api_url) as c:
        assert c.proposal(pid)["status"] == "open"
    return pid


def decide_together(net: Localnet, pids: list[int]) -> list[dict[str, Any]]:
    """Send the deciding votes back to back from one member; return their statuses."""
    with Client(net.nodes[1].api_url) as c:
        account = Account(c, net.created.member_keys["audit-cn"])
        txs = [account.build(gov.Vote(pid, True)) for pid in pids]
        assert c.submit_batch(txs)["accepted"] == len(txs)

        def committed() -> list[dict[str, Any]] | None:
            sts = [c.tx(compute_tx_hash(t)) for t in txs]
            return sts if all(s["state"] == "committed" for s in sts) else None

        return wait_for(committed, 60, "the deciding votes committed")


def test_two_updates_for_one_key_in_one_block_keep_the_chain_committing(net: Localnet) -> None:
    bosch_key = bytes.fromhex(net.nodes[3].validator_key)
    for attempt in range(ATTEMPTS):
        first, second = 11 + 2 * attempt, 12 + 2 * attempt
        pids = [
            open_proposal(net, gov.SetValidator("bosch", bosch_key, first)),
            open_proposal(net, gov.SetValidator("bosch", bosch_key, second)),
        ]
        statuses = decide_together(net, pids)
        heights = {int(s["height"]) for s in statuses}
        if len(heights) == 1:
            break
    else:
        raise AssertionError(f"the deciding votes never landed in one block in {ATTEMPTS} tries")
    (h,) = heights
    assert [s["result"]["code"] for s in statuses] == [0, 0]
    with Client(net.nodes[2].api_url) as c:
        assert [c.proposal(p)["status"] for p in pids] == ["executed", "executed"]
    # The chain keeps committing on every node past the block of the two updates ...
    for node in net.nodes:
        wait_for(lambda node=node: get_height(node) >= h + 3, 60, f"{node.name} past {h}")
    # ... and CometBFT applied the last write (updates of H take effect at H+2).
    vals = get_validators(net, h + 2)
    assert vals[bosch_key] == second
    assert sorted(vals.values()) == [10, 10, 10, second]
