"""One OEM's ingest scaled out: three gateway processes share a data folder (blob
stores, journal) behind round-robin uploads from several cars; one of them (the
leader by the journal's lease, or a standby) is killed with SIGKILL mid-load and the
cars go on with the survivors. Every acknowledged batch ends up in exactly one
anchored manifest, the anchor sequence numbers have no gap, nothing is lost."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from carchain.core.anchors import Anchor, AnchorHead, compute_anchor_key, compute_head_key
from carchain.data.batches import compute_header_hash
from carchain.errors import CarchainError, ReplayedBatch
from carchain.gateway.anchoring import compute_gateway_root, decode_manifest
from carchain.gateway.journal import Journal
from carchain.gateway.process_host import GatewayHost, GatewaySpec, open_gateway_hosts
from carchain.sdk.client import Client
from carchain.sdk.gateway_client import GatewayClient
from carchain.sdk.vehicle import Upload
from carchain.sim.embedded import EmbeddedNode
from carchain.storage.namespaces import open_namespace
from tests.conftest import make_genesis, seeded_key
from tests.dataplane import Car, make_car, make_records, register_cars, wait_for

CUSTODIAN = seeded_key("custodian/saic")
INSTANCES = 3
LEASE_TTL_S = 1.0


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[list[GatewayHost], EmbeddedNode]]:
    """Three gateway hosts forked first (stopped by pid at the end), then the node."""
    genesis = make_genesis()
    with (
        open_gateway_hosts(INSTANCES) as hosts,
        EmbeddedNode(tmp_path / "node", genesis, block_interval_ms=50) as node,
    ):
        yield hosts, node


def register_scale_cars(node_url: str, count: int) -> list[Car]:
    cars = [make_car(f"saic:scale-{i}", CUSTODIAN) for i in range(count)]
    with Client(node_url) as client:
        register_cars(client, cars)
    return cars


def make_uploads(car: Car, now: int) -> list[Upload]:
    recorder = car.recorder(window_ms=20_000)
    uploads = [u for t, r in make_records(240, now - 1_800_000) for u in recorder.add_at(r, t)]
    return uploads + recorder.flush()


class Fleet:
    """Cars uploading round-robin over the gateway instances still up."""

    def __init__(self, urls: list[str]) -> None:
        self.clients = [GatewayClient(u, timeout_s=10, signer=seeded_key("saic")) for u in urls]
        self.alive = list(range(len(urls)))
        self.acked: set[bytes] = set()
        self.lock = threading.Lock()
        self.turn = 0
        self.failovers = 0

    def pick(self) -> GatewayClient:
        with self.lock:
            self.turn += 1
            return self.clients[self.alive[self.turn % len(self.alive)]]

    def send(self, up: Upload) -> None:
        """Send until some instance acknowledges it (a replay: stored by one that died
        before it answered: it must be this very batch)."""
        for _ in range(20):
            client = self.pick()
            try:
                client.submit(up.body)
            except ReplayedBatch:
                assert client.batch(up.header_hash)["header_hash"] == up.header_hash.hex()
            except CarchainError:
                with self.lock:
                    self.failovers += 1
                continue
            with self.lock:
                self.acked.add(up.header_hash)
            return
        raise AssertionError("no gateway instance took the upload")

    def drive(self, uploads: list[Upload]) -> None:
        for up in uploads:
            self.send(up)

    def close(self) -> None:
        for client in self.clients:
            client.close()


def collect_chain_anchors(node_url: str, data_dir: Path) -> tuple[int, list[bytes]]:
    """Return the OEM's anchor head and the header hashes of every anchored manifest,
    seq by seq (each seq must be on chain: no gap)."""
    blobs = open_namespace(data_dir, "blobs")  # beside the running instances
    anchored: list[bytes] = []
    with Client(node_url) as client:
        head_doc = client.query("anchors", compute_head_key("saic"))
        head = msgspec.msgpack.decode(bytes.fromhex(head_doc["value"]), type=AnchorHead)
        for seq in range(1, head.seq + 1):
            doc = client.query("anchors", compute_anchor_key("saic", seq))
            anchor = msgspec.msgpack.decode(bytes.fromhex(doc["value"]), type=Anchor)
            assert anchor.seq == seq
            manifest = decode_manifest(blobs.get(anchor.manifest_hash))
            assert manifest.seq == seq and compute_gateway_root(manifest.headers) == anchor.root
            assert anchor.batch_count == len(manifest.headers)
            anchored += [compute_header_hash(h) for h in manifest.headers]
    blobs.close()
    return head.seq, anchored


@pytest.mark.timeout(300)
@pytest.mark.parametrize("victim", ["leader", "standby"])
def test_three_instances_lose_nothing_and_anchor_nothing_twice_when_one_is_killed(
    world: tuple[list[GatewayHost], EmbeddedNode], tmp_path: Path, victim: str
) -> None:
    hosts, node = world
    data_dir = tmp_path / "gateway-data"  # one data folder for the three instances
    cars = register_scale_cars(node.url, 8)
    urls = [
        host.start_gateway(
            GatewaySpec(
                data_dir,
                "saic",
                seeded_key("saic").seed(),
                CUSTODIAN.public_key,
                node.url,
                anchor_interval_s=0.05,
                custodian_seed=CUSTODIAN.seed(),
                instance_id=f"gw-{i}",
                lease_ttl_s=LEASE_TTL_S,
            )
        )
        for i, host in enumerate(hosts)
    ]
    fleet = Fleet(urls)
    try:
        statuses = [c.status() for c in fleet.clients]
        leaders = [i for i, s in enumerate(statuses) if s["role"] == "leader"]
        assert len(leaders) == 1, statuses  # exactly one instance holds the lease
        leader = leaders[0]
        assert {s["lease_holder"] for s in statuses} == {f"gw-{leader}"}
        now = int(time.time() * 1000)
        per_car = [make_uploads(car, now) for car in cars]
        everything = {u.header_hash for ups in per_car for u in ups}
        assert len(everything) >= 8 * 10
        drivers = [threading.Thread(target=fleet.drive, args=(ups,)) for ups in per_car]
        for d in drivers:
            d.start()
        wait_for(lambda: len(fleet.acked) >= len(everything) // 3, 120, "a third acknowledged")
        wait_for(lambda: fleet.clients[leader].status()["anchors"] >= 1, 60, "a first anchor")
        killed = leader if victim == "leader" else (leader + 1) % INSTANCES
        with fleet.lock:
            fleet.alive.remove(killed)  # the balancer's health check drops it...
        hosts[killed].process.kill()  # ... as it dies with SIGKILL, requests in flight
        acked_at_kill = len(fleet.acked)
        hosts[killed].process.join(30)
        assert not hosts[killed].process.is_alive()
        killed_at = time.monotonic()
        if victim == "leader":  # a survivor takes the lease over once it expires
            watcher = fleet.clients[fleet.alive[0]]
            wait_for(lambda: watcher.status()["lease_holder"] != f"gw-{killed}", 60, "takeover")
            print(f"lease taken over {time.monotonic() - killed_at:.2f} s after the kill")
        for d in drivers:
            d.join(180)
        assert not any(d.is_alive() for d in drivers)
        assert fleet.acked == everything
        assert acked_at_kill < len(everything)  # killed mid-load
        print(f"killed {victim} at {acked_at_kill}/{len(everything)}, failovers {fleet.failovers}")

        survivor = fleet.clients[fleet.alive[0]]
        wait_for(
            lambda: (
                survivor.status()["unanchored"] == 0
                and survivor.status()["batches"] == len(everything)
            ),
            120,
            "everything anchored by the survivors",
        )
        status = survivor.status()
        if victim == "leader":  # a survivor took the lease over, with a new epoch
            assert status["lease_holder"] != f"gw-{killed}" and status["lease_epoch"] >= 2
        else:
            assert status["lease_holder"] == f"gw-{leader}"
        roles = [fleet.clients[i].status()["role"] for i in fleet.alive]
        assert roles.count("leader") == 1

        head, anchored = collect_chain_anchors(node.url, data_dir)
        assert len(anchored) == len(set(anchored)), "a batch was anchored twice"
        assert set(anchored) == everything  # every acknowledged batch, nothing else
        assert status["anchors"] == head and status["anchored"] == len(everything)
        print(f"{head} anchors, lease epoch {status['lease_epoch']}")
        journal = Journal(data_dir / "journal.db")
        try:
            assert all(kept == counted for kept, counted in journal.recount().values())
            epochs = {journal.get_anchor_epoch(seq) for seq in range(1, head + 1)}
            assert None not in epochs and 0 not in epochs  # every anchor built under a lease
            if victim == "leader":
                assert len(epochs) >= 2  # anchors before and after the takeover
            for h in everything:
                row = journal.get_batch_optional(h)
                assert row is not None and row.anchor_seq is not None
        finally:
            journal.close()
    finally:
        fleet.close()
