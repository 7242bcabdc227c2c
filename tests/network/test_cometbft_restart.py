"""A CometBFT restart under a running application: the transactions its mempool lost
stop being "pending", and the gateway's anchoring goes on (issue 7, item 5)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from carchain.errors import NotFound
from carchain.gateway.anchoring import Anchorer, AnchorOutcome
from carchain.gateway.journal import Journal
from carchain.network import localnet, processes
from carchain.sdk.account import Account
from carchain.sdk.client import Client
from carchain.storage.blobstore import FileBlobStore
from tests.network.conftest import Localnet, get_height, run_localnet, wait_for

pytestmark = pytest.mark.network


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Localnet]:
    """A fresh 4-validator localnet (this test stops and restarts CometBFTs)."""
    with run_localnet(tmp_path / "net") as n:
        yield n


def add_batches(journal: Journal, first: int, count: int) -> None:
    """Record ``count`` accepted batches (the anchor only commits to their headers)."""
    for seq in range(first, first + count):
        header = f"header-{seq}".encode()
        journal.add_batch(
            hashlib.sha256(header).digest(),
            "veh-1",
            1,
            seq,
            1000 * seq,
            1000 * seq + 999,
            5,
            64,
            header,
        )


def get_tx_state(client: Client, tx_hash: bytes) -> str:
    """Return the node's answer to GET /txs/{hash}."""
    try:
        return str(client.tx(tx_hash)["state"])
    except NotFound:
        return "unknown"


def step_until_committed(anchorer: Anchorer, timeout_s: float) -> AnchorOutcome:
    """Run anchoring steps until one settles an anchor (bounded)."""
    return wait_for(anchorer.step, timeout_s, "an anchor to commit", interval_s=0.2)


def test_cometbft_restart_forgets_lost_pending_and_anchoring_continues(
    net: Localnet, tmp_path: Path
) -> None:
    layout = net.layout
    node0, others = net.nodes[0], net.nodes[1:]
    client = Client(node0.api_url)
    journal = Journal(tmp_path / "journal.db")
    anchorer = Anchorer(
        "saic",
        Account(client, net.created.member_keys["saic"]),
        journal,
        FileBlobStore(tmp_path / "blobs"),
        commit_timeout_s=1.0,
    )
    try:
        # The other validators' CometBFTs stop: no quorum, and node0 cannot gossip,
        # so the anchor it accepts lives only in node0's CometBFT mempool.
        for n in others:
            processes.stop(localnet.get_pid_paths(layout, n)[1])
        add_batches(journal, 1, 3)
        assert anchorer.step() is None  # sent; no block can include it
        row = journal.get_unconfirmed_anchor_optional()
        assert row is not None
        assert get_tx_state(client, row.tx_hash) == "pending"

        # node0's CometBFT restarts while its application keeps running: its
        # mempool, and the anchor in it, are gone.
        app_pid = processes.read_pid(localnet.get_pid_paths(layout, node0)[0])
        processes.stop(localnet.get_pid_paths(layout, node0)[1])
        localnet.start_comet(layout, node0)
        wait_for(lambda: get_height(node0) >= 1, 30, "node0's CometBFT back")
        wait_for(
            lambda: get_tx_state(client, row.tx_hash) != "pending",
            30,
            "the lost anchor to stop being pending",
        )
        assert processes.read_pid(localnet.get_pid_paths(layout, node0)[0]) == app_pid
        assert get_tx_state(client, row.tx_hash) == "unknown"

        # The others come back; the gateway sends its anchor again and it commits.
        for n in others:
            localnet.start_comet(layout, n)
        first = step_until_committed(anchorer, 90)
        assert first.seq == row.body.seq and first.batch_count == 3
        # And anchoring goes on: a later anchor commits too.
        add_batches(journal, 4, 2)
        later = step_until_committed(anchorer, 60)
        assert (later.seq, later.batch_count) == (row.body.seq + 1, 2)
        assert later.height > first.height
        assert journal.get_unconfirmed_anchor_optional() is None
    finally:
        journal.close()
