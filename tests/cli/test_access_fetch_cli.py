"""``carchain gateway start`` with ``--custody`` serves releases by itself; a requester
runs ``carchain access fetch``; the owner runs ``carchain access release-as-owner`` for a
sensitive category. All in subprocesses against a live node, as users would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from carchain.core.access import get_request_count
from carchain.core.access_log import get_access_log_page
from carchain.core.consents import GrantConsent
from carchain.core.vehicles import RegisterVehicle
from carchain.data.records import Diagnostics
from carchain.errors import CarchainError
from carchain.sdk.account import Account
from carchain.sdk.chainview import ChainView
from carchain.sdk.client import Client
from carchain.sdk.gateway_client import GatewayClient
from carchain.sdk.keystore import save_key
from carchain.sdk.vin import compute_vin_commitment
from carchain.sim.embedded import EmbeddedNode, find_free_port
from tests.conftest import VIN_SALT, Processes, make_genesis, make_vin, seeded_key
from tests.dataplane import make_car, make_records, wait_for

PASSPHRASE = "cli-custody-passphrase"
HOUR_MS = 3_600_000


def carchain(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "carchain.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def make_keyring(keyring: Path, owner_key: object) -> None:
    for name, key in (
        ("saic", seeded_key("saic")),
        ("custodian", seeded_key("custodian/saic")),
        ("bosch", seeded_key("bosch")),
        ("owner", owner_key),
    ):
        save_key(keyring / f"{name}.json", key, PASSPHRASE, n=2**10)  # type: ignore[arg-type]


def log_kinds(client: Client, vehicle_id: str) -> list[str]:
    return [e.kind for e in get_access_log_page(ChainView(client), vehicle_id, None, 100)]


@pytest.mark.timeout(240)
def test_gateway_start_releases_and_access_fetch(tmp_path: Path, processes: Processes) -> None:
    keyring = tmp_path / "keys"
    car = make_car("saic:cli-c1", seeded_key("custodian/saic"))
    make_keyring(keyring, car.owner)
    env = dict(
        os.environ, CARCHAIN_PASSPHRASE=PASSPHRASE, CARCHAIN_KEYRING=str(keyring), COLUMNS="200"
    )
    genesis = make_genesis()
    with (
        EmbeddedNode(tmp_path / "node", genesis, block_interval_ms=50) as node,
        Client(node.url) as client,
    ):
        env["CARCHAIN_NODE"] = node.url
        Account(client, seeded_key("saic"), genesis.chain_id).send(
            RegisterVehicle(
                car.vehicle_id,
                compute_vin_commitment(make_vin("clic1"), VIN_SALT),
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
            "--custodian-key", "custodian", "--custody", "--port", str(port), env=env,
        )  # fmt: skip
        assert init.returncode == 0, init.stderr
        config = json.loads((home / "gateway.json").read_text())
        assert config["custodian_key_file"].endswith("custodian.json")
        assert PASSPHRASE not in (home / "gateway.json").read_text()
        processes.start(
            [sys.executable, "-m", "carchain.cli.main", "gateway", "start", "--home", str(home)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        env["CARCHAIN_GATEWAY"] = url
        gc = GatewayClient(url)

        def up() -> bool:
            try:
                return gc.status().get("custody") == "ok"
            except CarchainError:
                return False

        wait_for(up, 60, "gateway with custody")
        rec = car.recorder(window_ms=60_000)
        ups = []
        start = int(time.time() * 1000) - 600_000
        for i, (t, r) in enumerate(make_records(60, start)):
            ups += rec.add_at(r, t)
            if i % 10 == 0:
                ups += rec.add_at(Diagnostics(t + 1, ["P0420"], True), t + 1)
        ups += rec.flush()
        gc.submit(ups[0].body)
        wait_for(lambda: gc.status()["unanchored"] == 0, 60, "anchoring")
        gc.close()
        now = int(time.time() * 1000)
        owner = Account(client, car.owner)
        for cats, purpose in ((["diagnostics"], "maintenance_diagnostics"),
                              (["location"], "navigation_maps")):  # fmt: skip
            owner.send(
                GrantConsent(
                    car.vehicle_id,
                    cats,
                    purpose,
                    "bosch",
                    "",
                    now - 24 * HOUR_MS,
                    now + HOUR_MS,
                    now + 24 * HOUR_MS,
                )
            )

        def request(category: str, purpose: str) -> int:
            seq = get_request_count(ChainView(client), car.vehicle_id)
            res = carchain(
                "access", "request", "--vehicle-id", car.vehicle_id, "--category", category,
                "--purpose", purpose, "--data-from-ms", str(now - HOUR_MS),
                "--data-until-ms", str(now), "--key", "bosch", env=env,
            )  # fmt: skip
            assert res.returncode == 0 and "approved" in res.stdout, res.stdout + res.stderr
            return seq

        diag = request("diagnostics", "maintenance_diagnostics")
        wait_for(lambda: "release" in log_kinds(client, car.vehicle_id), 60, "custody release")
        out = tmp_path / "out"
        fetched = carchain(
            "access", "fetch", "--vehicle-id", car.vehicle_id, "--request-seq", str(diag),
            "--key", "bosch", "--out", str(out), env=env,
        )  # fmt: skip
        assert fetched.returncode == 0, fetched.stderr
        assert "receipted" in fetched.stdout and "diagnostics" in fetched.stdout
        files = sorted(p.name for p in out.iterdir())
        assert files == [f"{ups[0].header_hash.hex()}-diagnostics.json"]
        assert "P0420" in (out / files[0]).read_text()
        assert (out / files[0]).stat().st_mode & 0o077 == 0
        assert log_kinds(client, car.vehicle_id)[0] == "receipt"

        # A stranger's fetch is refused by the chain check (not its request).
        stranger = carchain(
            "access", "fetch", "--vehicle-id", car.vehicle_id, "--request-seq", str(diag),
            "--key", "owner", env=env,
        )  # fmt: skip
        assert stranger.returncode == 1 and "unauthorized" in stranger.stderr

        loc = request("location", "navigation_maps")
        wait_for(
            lambda: GatewayClient(url).status().get("custody_release_owner_only", 0) == 1,
            60,
            "custody leaves the sensitive request to the owner",
        )
        released = carchain(
            "access", "release-as-owner", "--vehicle-id", car.vehicle_id,
            "--request-seq", str(loc), "--key", "owner", env=env,
        )  # fmt: skip
        assert released.returncode == 0, released.stderr
        got = carchain(
            "access", "fetch", "--vehicle-id", car.vehicle_id, "--request-seq", str(loc),
            "--key", "bosch", "--no-receipt", env=env,
        )  # fmt: skip
        assert got.returncode == 0, got.stderr
        assert "location" in got.stdout and "receipted" not in got.stdout
