"""State at past heights on a 4-validator localnet: CometBFT's stock ``cometbft light``
proxy verifies proved ``abci_query`` results, and ``carchain gateway prove`` works.

A proof of state ``H`` checks against the app hash in header ``H+1``, so a node that
answered only at its latest height failed both: the proxy asked for header ``H+1``
before it existed ("height requested is too high"), and ``gateway prove`` never got
its two state proofs at one height.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from carchain.core.anchors import compute_anchor_key
from carchain.core.members import compute_member_key
from carchain.core.vehicles import RegisterVehicle, compute_vehicle_key
from carchain.crypto.signing import SigningKey
from carchain.gateway.server import EmbeddedGateway
from carchain.network.localnet import find_cometbft
from carchain.sdk.account import Account
from carchain.sdk.client import Client
from carchain.sdk.gateway_client import GatewayClient
from carchain.sdk.keystore import save_key
from carchain.sdk.vin import compute_vin_commitment
from carchain.sim.embedded import find_free_port
from tests.conftest import Processes, make_vin, seeded_key
from tests.dataplane import Car, make_car, make_records
from tests.network.conftest import Localnet, get_height, rpc_get, wait_for

pytestmark = pytest.mark.network
PASSPHRASE = "past-heights-test"


@dataclass
class LightProxy:
    """A running ``cometbft light`` proxy."""

    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def abci_query(self, store: str, key: bytes, height: int = 0) -> dict[str, Any]:
        """Return the proxy's JSON-RPC answer to a proved query of ``store/key``."""
        params: dict[str, Any] = {
            "path": f'"/store/{store}/key"',
            "data": "0x" + key.hex(),
            "prove": "true",
        }
        if height:
            params["height"] = height
        return dict(httpx.get(f"{self.url}/abci_query", params=params, timeout=60).json())


@pytest.fixture(scope="module")
def proxy(net: Localnet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LightProxy]:
    """The stock light proxy: primary node1, witnesses node2 and node3, trust root header 1."""
    trusted = rpc_get(net.nodes[0], "commit", height=1)["signed_header"]["commit"]["block_id"]
    port = find_free_port()
    home = tmp_path_factory.mktemp("light")
    log = home / "light.log"
    procs = Processes()
    with log.open("wb") as out:
        proc = procs.start(
            [
                str(find_cometbft()), "light", net.layout.chain_id,
                "-p", net.nodes[1].rpc_url,
                "-w", f"{net.nodes[2].rpc_url},{net.nodes[3].rpc_url}",
                "--height", "1", "--hash", str(trusted["hash"]),
                "--laddr", f"tcp://127.0.0.1:{port}",
                "--home-dir", str(home / "data"),
                "--log_level", "info",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    light = LightProxy(f"http://127.0.0.1:{port}", proc, log)
    try:

        def ready() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"light proxy exited: {log.read_text()[-2000:]}")
            return httpx.get(f"{light.url}/health", timeout=2).status_code == 200

        wait_for(ready, 60, "the light proxy")
        yield light
    finally:
        procs.kill_all()  # by pid


def register(client: Client, key: SigningKey, car: Car) -> int:
    body = RegisterVehicle(
        car.vehicle_id,
        compute_vin_commitment(make_vin(car.vehicle_id), os.urandom(32)),
        car.key.public_key,
        "ID.4",
        2025,
        car.owner.public_key,
    )
    return int(Account(client, key).send(body)["height"])


def assert_verified(light: LightProxy, client: Client, store: str, key: bytes, height: int) -> int:
    """Query through the proxy once; it must verify and match the node's value at that height."""
    doc = light.abci_query(store, key, height)
    assert "result" in doc, f"{store}: {doc.get('error')}"
    res = doc["result"]["response"]
    assert int(res.get("code", 0)) == 0, res
    answered = int(res["height"])
    if height:
        assert answered == height
    expected = client.query(store, key, height=answered)["value"]
    assert base64.b64decode(res["value"]).hex() == expected
    return answered


def test_stock_light_proxy_verifies_proved_queries_of_several_stores(
    net: Localnet, proxy: LightProxy
) -> None:
    saic = net.created.member_keys["saic"]
    custodian = seeded_key("custodian/saic")
    first, second = make_car("saic:light-1", custodian), make_car("saic:light-2", custodian)
    with Client(net.nodes[1].api_url) as client:
        h1 = register(client, saic, first)
        h2 = register(client, saic, second)
        wait_for(lambda: get_height(net.nodes[1]) >= h2 + 1, 30, "the header after block h2")
        keys = {
            "vehicles": compute_vehicle_key(second.vehicle_id),
            "members": compute_member_key("saic"),
            "accounts": saic.public_key,
            "params": b"governance",
        }
        # The latest provable height, each store on the first try.
        for store, key in keys.items():
            assert assert_verified(proxy, client, store, key, 0) >= h2
        # Explicit past heights of the window: the nonce as it was at h1 and at h2.
        nonces = {}
        for height in (h1, h2):
            assert_verified(proxy, client, "accounts", saic.public_key, height)
            nonces[height] = client.query("accounts", saic.public_key, height=height)["value"]
        assert nonces[h1] != nonces[h2]
        assert_verified(proxy, client, "vehicles", compute_vehicle_key(first.vehicle_id), h1)
        for height in (h1 - 1, max(1, h1 - 5)):
            for store in ("members", "params"):
                assert_verified(proxy, client, store, keys[store], height)
        # Before its registration the second car did not exist: refused, nothing passes.
        before = proxy.abci_query("vehicles", keys["vehicles"], h1)
        assert "error" in before and "code: 20" in str(before["error"])
        # Not committed yet (or beyond the window): the typed error's code, 79.
        future = proxy.abci_query("members", keys["members"], h2 + 10_000)
        assert "error" in future and "code: 79" in str(future["error"])


def test_gateway_prove_works_on_the_network(
    net: Localnet, proxy: LightProxy, tmp_path: Path
) -> None:
    saic = net.created.member_keys["saic"]
    node = net.nodes[2]
    custodian = seeded_key("custodian/saic")
    car = make_car("saic:prove-1", custodian)
    with Client(node.api_url) as client:
        register(client, saic, car)
    keyring = tmp_path / "keys"
    save_key(keyring / "owner.json", car.owner, PASSPHRASE, n=2**10)
    env = dict(os.environ, CARCHAIN_PASSPHRASE=PASSPHRASE, CARCHAIN_KEYRING=str(keyring))
    gw = EmbeddedGateway(tmp_path / "gw", "saic", saic, custodian.public_key, node.api_url, 0.1)
    gw.start()
    try:
        with GatewayClient(gw.url, signer=saic) as gc:
            rec = car.recorder()
            uploads = []
            for t, r in make_records(30, int(time.time() * 1000) - 120_000):
                uploads += rec.add_at(r, t)
            uploads += rec.flush()
            gc.submit(uploads[0].body)
            wait_for(lambda: gc.status()["unanchored"] == 0, 60, "anchoring")
            anchor = gc.batch_proof(uploads[0].header_hash)["anchor"]
        bundle, header = tmp_path / "bundle.json", tmp_path / "header.json"
        proved = subprocess.run(
            [
                sys.executable, "-m", "carchain.cli.main", "gateway", "prove",
                "--header-hash", uploads[0].header_hash.hex(), "--index", "7",
                "--key", "owner", "--out", str(bundle), "--header-out", str(header),
                "--gateway", gw.url, "--node", node.api_url, "--rpc", node.rpc_url,
            ],
            capture_output=True, text=True, timeout=120, env=env,
        )  # fmt: skip
        assert proved.returncode == 0, proved.stdout + proved.stderr
        verified = subprocess.run(
            [sys.executable, "-m", "carchain.cli.main", "verify", str(bundle), "--genesis",
             str(net.layout.get_comet_home(net.nodes[0]) / "config" / "genesis.json")],
            capture_output=True, text=True, timeout=120, env=env,
        )  # fmt: skip
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert "verified telemetry record of vehicle saic:prove-1" in verified.stdout
    finally:
        gw.stop()
    # The anchor itself, through CometBFT's own light client.
    with Client(node.api_url) as client:
        key = compute_anchor_key("saic", int(anchor["seq"]))
        assert_verified(proxy, client, "anchors", key, 0)
