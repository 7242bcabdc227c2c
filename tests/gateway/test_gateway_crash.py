"""Kill the gateway (SIGKILL) mid-batch and mid-anchoring: no acknowledged batch is
lost and none is anchored twice."""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import msgspec
import pytest

from carchain.core.anchors import Anchor, AnchorHead, compute_anchor_key, compute_head_key
from carchain.data.batches import compute_header_hash
from carchain.errors import CarchainError, ReplayedBatch
from carchain.gateway.anchoring import compute_gateway_root, decode_manifest
from carchain.gateway.server import GatewayConfig, save_config
from carchain.sdk.client import Client
from carchain.sdk.gateway_client import GatewayClient
from carchain.sdk.keystore import save_key
from carchain.sdk.vehicle import Upload
from carchain.sim.embedded import EmbeddedNode, find_free_port
from carchain.storage.namespaces import open_namespace
from carchain.storage.segments import SegmentBlobStore
from tests.conftest import Processes, make_genesis, seeded_key
from tests.dataplane import Car, make_car, make_records, register_cars, wait_for

PASSPHRASE = "crash-test-passphrase"


class GatewayProcess:
    """A ``carchain gateway start`` subprocess that the test can kill and restart."""

    def __init__(self, processes: Processes, home: Path, port: int) -> None:
        self.processes = processes
        self.home = home
        self.url = f"http://127.0.0.1:{port}"
        self.pid = 0
        self.client = GatewayClient(self.url, timeout_s=10, signer=seeded_key("saic"))

    def start(self) -> None:
        env = dict(os.environ, CARCHAIN_PASSPHRASE=PASSPHRASE)
        log = (self.home / "gateway.log").open("ab")
        proc = self.processes.start(
            [
                sys.executable,
                "-m",
                "carchain.cli.main",
                "gateway",
                "start",
                "--home",
                str(self.home),
            ],
            env=env,
            stdout=log,
            stderr=log,
        )
        log.close()
        self.pid = proc.pid

        def up() -> bool:
            try:
                self.client.status()
                return True
            except CarchainError:
                assert proc.poll() is None, (self.home / "gateway.log").read_text()
                return False

        wait_for(up, 60, "gateway to start")

    def kill(self) -> None:
        os.kill(self.pid, signal.SIGKILL)
        for proc in self.processes.procs:
            if proc.pid == self.pid:
                proc.wait(timeout=30)


def build_uploads(cars: list[Car], now: int) -> tuple[list[Upload], list[Upload]]:
    """Return two rounds of uploads (5 then 2 batches per car), sequence numbers continuing."""
    first: list[Upload] = []
    second: list[Upload] = []
    for car in cars:
        rec = car.recorder(window_ms=30_000)
        for t, r in make_records(150, now - 1_200_000):
            first += rec.add_at(r, t)
        first += rec.flush()
        for t, r in make_records(60, now - 300_000):
            second += rec.add_at(r, t)
        second += rec.flush()
    return first, second


def send_all(gw: GatewayProcess, uploads: list[Upload], acked: set[bytes]) -> None:
    """Send every upload not yet acknowledged; a replay means it was stored before a crash."""
    for up in uploads:
        if up.header_hash in acked:
            continue
        try:
            gw.client.submit(up.body)
        except ReplayedBatch:
            # Stored before a crash, acknowledgement lost: it must be this very batch.
            gw.client.batch(up.header_hash)
        acked.add(up.header_hash)


@pytest.mark.timeout(240)
def test_sigkill_loses_no_acknowledged_batch_and_anchors_none_twice(
    tmp_path: Path, processes: Processes
) -> None:
    genesis = make_genesis()
    custodian = seeded_key("custodian/saic")
    with EmbeddedNode(tmp_path / "node", genesis, block_interval_ms=50) as node:
        client = Client(node.url)
        cars = [make_car(f"saic:crash-{i}", custodian) for i in range(8)]
        register_cars(client, cars)

        keyring = tmp_path / "keys"
        save_key(keyring / "saic.json", seeded_key("saic"), PASSPHRASE, n=2**10)
        home = tmp_path / "gateway"
        port = find_free_port()
        save_config(
            home,
            GatewayConfig(
                oem="saic",
                key_file=str(keyring / "saic.json"),
                custodian_public_key=custodian.public_key.hex(),
                node_url=node.url,
                api_port=port,
                anchor_interval_ms=20,
            ),
        )
        gw = GatewayProcess(processes, home, port)
        gw.start()
        now = int(time.time() * 1000)
        first, second = build_uploads(cars, now)
        acked: set[bytes] = set()

        # 1. Kill while a stream of uploads is in flight.
        def stream() -> None:
            for up in first:
                try:
                    gw.client.submit(up.body)
                    acked.add(up.header_hash)
                except CarchainError:
                    return

        uploader = threading.Thread(target=stream)
        uploader.start()
        wait_for(lambda: len(acked) >= 12, 60, "some acknowledged uploads")
        gw.kill()
        uploader.join(30)
        acked_before_crash = set(acked)

        # 2. Kill with half a batch on the wire.
        gw.start()
        half = first[-1].body
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(
                b"POST /batches HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/octet-stream\r\n"
                + f"Content-Length: {len(half)}\r\n\r\n".encode()
                + half[: len(half) // 2]
            )
            gw.kill()
        gw.start()
        assert gw.client.status()["batches"] >= len(acked_before_crash)
        send_all(gw, first, acked)

        # 3. Kill while anchoring is under way.
        send_all(gw, second, acked)
        gw.kill()
        gw.start()
        wait_for(lambda: gw.client.status()["unanchored"] == 0, 90, "everything anchored")

        # Every acknowledged batch is stored and anchored...
        everything = {u.header_hash for u in first + second}
        assert acked == everything
        for h in acked_before_crash:
            doc = gw.client.batch(h)
            assert doc["anchor_height"] > 0
        # ... exactly once across the chain's anchors.
        head_doc = client.query("anchors", compute_head_key("saic"))
        head = msgspec.msgpack.decode(bytes.fromhex(head_doc["value"]), type=AnchorHead)
        blobs = open_namespace(home / "data", "blobs")  # beside the running gateway
        assert isinstance(blobs, SegmentBlobStore)  # the default the killed gateway wrote
        anchored: list[bytes] = []
        for seq in range(1, head.seq + 1):
            doc = client.query("anchors", compute_anchor_key("saic", seq))
            anchor = msgspec.msgpack.decode(bytes.fromhex(doc["value"]), type=Anchor)
            manifest = decode_manifest(blobs.get(anchor.manifest_hash))
            assert compute_gateway_root(manifest.headers) == anchor.root
            assert anchor.batch_count == len(manifest.headers)
            anchored += [compute_header_hash(h) for h in manifest.headers]
        assert len(anchored) == len(set(anchored)), "a batch was anchored twice"
        assert set(anchored) == everything
        assert gw.client.status()["anchors"] == head.seq
        client.close()
        gw.client.close()
