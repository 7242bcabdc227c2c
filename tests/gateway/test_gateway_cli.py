"""The gateway from the command line, as an operator and an owner would use it:
``carchain gateway init/start/status/batches/prove`` and ``carchain verify``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from carchain.core.vehicles import RegisterVehicle
from carchain.errors import CarchainError
from carchain.sdk.account import Account
from carchain.sdk.client import Client
from carchain.sdk.gateway_client import GatewayClient
from carchain.sdk.keystore import save_key
from carchain.sdk.vin import compute_vin_commitment
from carchain.sim.embedded import EmbeddedNode, find_free_port
from tests.conftest import VIN_SALT, Processes, make_genesis, make_vin, seeded_key
from tests.dataplane import make_car, make_records, wait_for

PASSPHRASE = "cli-test-passphrase"


def carchain(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "carchain.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


@pytest.mark.timeout(180)
def test_gateway_commands_end_to_end(tmp_path: Path, processes: Processes) -> None:
    genesis = make_genesis()
    keyring = tmp_path / "keys"
    custodian = seeded_key("custodian/saic")
    car = make_car("saic:cli-1", custodian)
    save_key(keyring / "saic.json", seeded_key("saic"), PASSPHRASE, n=2**10)
    save_key(keyring / "custodian.json", custodian, PASSPHRASE, n=2**10)
    save_key(keyring / "owner.json", car.owner, PASSPHRASE, n=2**10)
    env = dict(
        os.environ, CARCHAIN_PASSPHRASE=PASSPHRASE, CARCHAIN_KEYRING=str(keyring), COLUMNS="200"
    )
    with EmbeddedNode(tmp_path / "node", genesis, block_interval_ms=50) as node:
        with Client(node.url) as client:
            Account(client, seeded_key("saic"), genesis.chain_id).send(
                RegisterVehicle(
                    car.vehicle_id,
                    compute_vin_commitment(make_vin("cli"), VIN_SALT),
                    car.key.public_key,
                    "RX5",
                    2024,
                    car.owner.public_key,
                )
            )
        port = find_free_port()
        home = tmp_path / "gateway"
        init = carchain(
            "gateway", "init", "--home", str(home), "--oem", "saic", "--key", "saic",
            "--custodian-key", "custodian", "--node", node.url, "--port", str(port),
            env=env,
        )  # fmt: skip
        assert init.returncode == 0, init.stderr
        assert PASSPHRASE not in (home / "gateway.json").read_text()
        again = carchain(
            "gateway", "init", "--home", str(home), "--oem", "saic", "--key", "saic",
            "--custodian-key", "custodian", "--node", node.url, env=env,
        )  # fmt: skip
        assert again.returncode == 1 and "already initialised" in again.stderr

        processes.start(
            [sys.executable, "-m", "carchain.cli.main", "gateway", "start", "--home", str(home)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        gc = GatewayClient(url)

        def up() -> bool:
            try:
                gc.status()
                return True
            except CarchainError:
                return False

        wait_for(up, 60, "gateway")
        rec = car.recorder()
        uploads = []
        for t, r in make_records(30, int(time.time() * 1000) - 120_000):
            uploads += rec.add_at(r, t)
        uploads += rec.flush()
        gc.submit(uploads[0].body)
        wait_for(lambda: gc.status()["unanchored"] == 0, 60, "anchoring")
        gc.close()

        status = carchain("gateway", "status", "--gateway", url, env=env)
        assert status.returncode == 0 and "anchored: 1" in status.stdout
        assert "lease_holder: " in status.stdout and "role: " in status.stdout

        # A second instance of the OEM's ingest on the same data folder: it stands by.
        port2, home2 = find_free_port(), tmp_path / "gateway-2"
        init2 = carchain(
            "gateway", "init", "--home", str(home2), "--oem", "saic", "--key", "saic",
            "--custodian-key", "custodian", "--node", node.url, "--port", str(port2),
            "--data-dir", str(home / "data"), "--instance-id", "saic-2", env=env,
        )  # fmt: skip
        assert init2.returncode == 0, init2.stderr
        processes.start(
            [sys.executable, "-m", "carchain.cli.main", "gateway", "start", "--home", str(home2)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        gc2 = GatewayClient(f"http://127.0.0.1:{port2}")
        gc = GatewayClient(url)

        def second_up() -> bool:
            try:
                gc2.status()
                return True
            except CarchainError:
                return False

        wait_for(second_up, 60, "second gateway instance")
        first_doc, second_doc = gc.status(), gc2.status()
        assert second_doc["instance"] == "saic-2" != first_doc["instance"]
        # The first keeps renewing the lease it took: the second finds it held.
        assert second_doc["lease_holder"] == first_doc["lease_holder"] == first_doc["instance"]
        assert second_doc["role"] == "standby" and second_doc["lease_epoch"] >= 1
        later = [u for t, r in make_records(10, int(time.time() * 1000) - 30_000)
                 for u in rec.add_at(r, t)] + rec.flush()  # fmt: skip
        gc2.submit(later[0].body)  # the standby ingests; the leader anchors it
        wait_for(lambda: gc.status()["anchored"] == 2, 60, "anchoring via the leader")
        assert gc2.status()["unanchored"] == 0
        gc.close()
        gc2.close()
        status2 = carchain("gateway", "status", "--gateway", f"http://127.0.0.1:{port2}", env=env)
        assert status2.returncode == 0 and "instance: saic-2" in status2.stdout
        assert "lease_holder: " + first_doc["instance"] in status2.stdout
        listed = carchain(
            "gateway",
            "batches",
            "--vehicle-id",
            car.vehicle_id,
            "--key",
            "owner",
            "--gateway",
            url,
            env=env,
        )
        assert listed.returncode == 0 and uploads[0].header_hash.hex()[:16] in listed.stdout

        bundle, header = tmp_path / "bundle.json", tmp_path / "header.json"
        proved = carchain(
            "gateway", "prove", "--header-hash", uploads[0].header_hash.hex(), "--index", "7",
            "--key", "owner", "--out", str(bundle), "--header-out", str(header),
            "--gateway", url, "--node", node.url, env=env,
        )  # fmt: skip
        assert proved.returncode == 0, proved.stderr
        verified = carchain("verify", str(bundle), "--header", str(header), env=env)
        assert verified.returncode == 0, verified.stderr
        assert "verified telemetry record of vehicle saic:cli-1" in verified.stdout

        stranger = carchain(
            "gateway", "prove", "--header-hash", uploads[0].header_hash.hex(), "--index", "7",
            "--key", "saic", "--out", str(bundle), "--header-out", str(header),
            "--gateway", url, "--node", node.url, env=env,
        )  # fmt: skip
        assert stranger.returncode == 1 and "decryption_failed" in stranger.stderr
