"""Faults on a 4-validator localnet under load.

In order, on one network: one validator killed (the chain goes on, nothing
acknowledged is lost); a second killed (the chain halts, without forking);
both restarted (they catch up to the same app hash at the same height); an
application process SIGKILLed between executing and committing a block
(recovers through the ABCI handshake); a node whose state was tampered with
(refuses to run).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from carchain.core import governance as gov
from carchain.core.vehicles import RegisterVehicle
from carchain.crypto.signing import SigningKey
from carchain.errors import CarchainError
from carchain.network import localnet, processes
from carchain.network.appnode import CRASH_ENV
from carchain.network.layout import NodeLayout
from carchain.sdk.account import Account
from carchain.sdk.client import Client
from carchain.sdk.vin import compute_vin_commitment
from carchain.storage.database import Database
from carchain.storage.statestore import StateStore
from tests.conftest import make_vin
from tests.network.conftest import (
    Localnet,
    get_header_app_hash,
    get_height,
    hold_for,
    rpc_get,
    wait_for,
)

pytestmark = pytest.mark.network
OEMS = ("saic", "geely", "vw-china")


@dataclass
class Load:
    """Threads registering vehicles through the API; records acknowledged commits."""

    net: Localnet
    nodes: list[NodeLayout]
    acked: dict[bytes, int] = field(default_factory=dict)
    errors: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Load:
        for i, oem in enumerate(OEMS):
            t = threading.Thread(target=self._run, args=(oem, self.nodes[i % len(self.nodes)]))
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(60)

    def _run(self, oem: str, node: NodeLayout) -> None:
        with Client(node.api_url, timeout_s=15) as client:
            account = Account(client, self.net.created.member_keys[oem], self.net.layout.chain_id)
            n = 0
            while not self._stop.is_set():
                n += 1
                body = RegisterVehicle(
                    f"{oem}:load-{node.name}-{n}",
                    compute_vin_commitment(make_vin(f"load-{n}"), os.urandom(32)),
                    SigningKey.generate().public_key,
                    "RX5",
                    2024,
                    SigningKey.generate().public_key,
                )
                try:
                    res = account.send(body, mode="commit")
                except CarchainError:
                    with self._lock:
                        self.errors += 1
                    self._stop.wait(0.2)  # node down or chain halted: back off a little
                    continue
                if res.get("height"):
                    with self._lock:
                        self.acked[bytes.fromhex(res["hash"])] = int(res["height"])

    def snapshot(self) -> dict[bytes, int]:
        with self._lock:
            return dict(self.acked)

    def count(self) -> int:
        with self._lock:
            return len(self.acked)


def assert_acked_committed(load: Load, nodes: list[NodeLayout]) -> None:
    """Every acknowledged transaction is in the same block on every node."""
    acked = load.snapshot()
    assert acked, "the load produced no acknowledged transactions"
    top = max(acked.values())
    for node in nodes:
        with Client(node.api_url) as c:
            wait_for(lambda c=c: c.status()["height"] >= top, 30, f"{node.name}'s app at {top}")
            for tx_hash, height in acked.items():
                st = c.tx(tx_hash)
                assert (st["state"], st["height"]) == ("committed", height), node.name


def assert_same_chain(nodes: list[NodeLayout], height: int) -> None:
    """All ``nodes`` have the same block and app hash at ``height``."""
    hashes = {n.name: rpc_get(n, "commit", height=height)["signed_header"] for n in nodes}
    block_ids = {n: sh["commit"]["block_id"]["hash"] for n, sh in hashes.items()}
    app_hashes = {n: sh["header"]["app_hash"] for n, sh in hashes.items()}
    assert len(set(block_ids.values())) == 1, block_ids
    assert len(set(app_hashes.values())) == 1, app_hashes
    # The applications agree with their CometBFT (state after height-1 in header height).
    for n in nodes:
        with Client(n.api_url) as c:
            wait_for(lambda c=c: c.status()["height"] >= height, 30, f"{n.name}'s app")
            assert c.block(height)["app_hash"].upper() == app_hashes[n.name]


@pytest.fixture(scope="module")
def load(net: Localnet) -> Iterator[Load]:
    """Load on node0..node2 for the first two tests; stopped at the end in any case."""
    running = Load(net, net.nodes[:3])
    try:
        yield running
    finally:
        running.stop()


def test_one_of_four_down_keeps_committing_and_loses_nothing(net: Localnet, load: Load) -> None:
    load.start()
    wait_for(lambda: load.count() >= 10, 60, "acknowledged transactions")
    localnet.kill_node(net.layout, net.nodes[3])
    acked_at_kill = load.count()
    h = get_height(net.nodes[0])
    wait_for(lambda: get_height(net.nodes[0]) >= h + 5, 60, "5 blocks without node3")
    wait_for(lambda: load.count() >= acked_at_kill + 20, 60, "commits without node3")
    assert_acked_committed(load, net.nodes[:3])
    height = min(get_height(n) for n in net.nodes[:3])
    assert_same_chain(net.nodes[:3], height)


def test_two_of_four_down_halts_without_fork_then_all_catch_up(net: Localnet, load: Load) -> None:
    alive = net.nodes[:2]
    localnet.kill_node(net.layout, net.nodes[2])
    # Let a block that was already precommitted land, then the chain must stand still.
    h = wait_for(
        lambda: (a := get_height(alive[0])) == get_height(alive[1]) and a, 20, "heights equal"
    )
    with Client(alive[0].api_url) as c:  # accepted into the mempool, cannot commit yet
        action = gov.ChangeRoles("audit-cn", ["auditor"])
        pending = Account(c, net.created.member_keys["miit"]).send(gov.Propose(action), "sync")
    pending_hash = bytes.fromhex(pending["hash"])
    hold_for(
        lambda: max(get_height(n) for n in alive) <= h + 1, 4, "the chain progressed with 2 of 4"
    )
    top = min(get_height(n) for n in alive)
    assert_same_chain(alive, top)
    for node in net.nodes[2:]:
        localnet.start_node(net.layout, node)
    net.wait_height(top + 3, timeout_s=90)
    acked = load.count()
    wait_for(lambda: load.count() > acked + 10, 60, "commits under load after the restart")
    load.stop()
    common = min(get_height(n) for n in net.nodes)
    assert_same_chain(net.nodes, common)
    assert_acked_committed(load, net.nodes)
    for node in net.nodes:  # what waited in the mempool during the halt got in
        with Client(node.api_url) as c:
            wait_for(lambda c=c: c.tx(pending_hash)["state"] == "committed", 30, "pending tx")


def test_app_killed_mid_block_recovers_through_handshake(net: Localnet) -> None:
    node = net.nodes[1]
    app_pid, comet_pid = localnet.get_pid_paths(net.layout, node)
    localnet.stop_node(net.layout, node)
    crash_height = net.max_height() + 3
    localnet.start_node(net.layout, node, env=dict(os.environ, **{CRASH_ENV: str(crash_height)}))
    with Client(net.nodes[0].api_url) as c:  # a block with a transaction in it
        acct = Account(c, net.created.member_keys["geely"])
        wait_for(
            lambda: net.max_height() >= crash_height - 1, 60, "the network nearing crash height"
        )
        for i in range(5):
            body = RegisterVehicle(
                f"geely:crash-{i}",
                compute_vin_commitment(make_vin(f"crash-{i}"), os.urandom(32)),
                SigningKey.generate().public_key,
                "RX5",
                2024,
                SigningKey.generate().public_key,
            )
            acct.send(body, mode="sync")
    wait_for(lambda: processes.read_pid(app_pid) is None, 60, "the app to crash")
    log = (net.layout.get_node_dir(node) / "app.log").read_text()
    assert f"SIGKILL before committing height {crash_height}" in log
    # CometBFT stops when its application dies.
    wait_for(lambda: processes.read_pid(comet_pid) is None, 30, "CometBFT to stop")
    db = Database(net.layout.get_app_home(node) / "data" / "state.db")
    try:
        assert StateStore(db).height == crash_height - 1  # executed, never committed
    finally:
        db.close()
    localnet.start_node(net.layout, node)
    net.wait_height(crash_height + 2, [node], timeout_s=60)
    common = min(get_height(n) for n in net.nodes)
    assert_same_chain(net.nodes, common)


def test_tampered_state_refuses_to_run(net: Localnet) -> None:
    node = net.nodes[2]
    app_pid, comet_pid = localnet.get_pid_paths(net.layout, node)
    localnet.stop_node(net.layout, node)
    db_path = net.layout.get_app_home(node) / "data" / "state.db"
    # 1. State that does not match its own commitment: the application refuses at open.
    db = Database(db_path)
    original = db.get_meta("app_hash")
    assert original is not None
    db.conn.execute("UPDATE meta SET value = ? WHERE name = 'app_hash'", (os.urandom(32),))
    db.close()
    with pytest.raises(CarchainError, match="exited during start-up"):
        localnet.start_app(net.layout, node)
    log = (net.layout.get_node_dir(node) / "app.log").read_text()
    assert "refusing to start" in log and "storage_corrupted" in log
    # 2. State rewritten consistently (a forged block at the same height): the app
    # opens, but CometBFT's handshake finds that its app hash is not the one the
    # chain agreed on, and refuses to run.
    db = Database(db_path)
    db.conn.execute("UPDATE meta SET value = ? WHERE name = 'app_hash'", (original,))
    store = StateStore(db)
    overlay = store.begin_block()
    overlay.set("vehicles", b"v/forged", b"\x01")
    store.commit(overlay, store.height, None)
    forged_hash = store.app_hash
    db.close()
    localnet.start_node(net.layout, node)
    wait_for(lambda: processes.read_pid(comet_pid) is None, 60, "CometBFT to refuse")
    comet_log = (net.layout.get_node_dir(node) / "comet.log").read_text()
    assert "AppHash does not match" in comet_log or "app hash" in comet_log.lower()
    assert forged_hash.hex().upper() not in {
        get_header_app_hash(n, get_height(n)) for n in (net.nodes[0], net.nodes[3])
    }
    # The rest of the network carries on.
    h = net.max_height([net.nodes[0]])
    net.wait_height(h + 2, [net.nodes[0], net.nodes[1], net.nodes[3]])
    processes.stop(app_pid)
    assert httpx.get(f"{net.nodes[0].rpc_url}/health", timeout=5).status_code == 200
