"""Issue 7 item 14: a gateway whose key is not its OEM's active member key is refused at
``gateway init`` and ``gateway start`` with one line; anchoring failures show in
``gateway status`` and back off instead of logging several errors a second."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from carchain.core import governance as gov
from carchain.core.vehicles import RegisterVehicle
from carchain.errors import CarchainError
from carchain.gateway.server import GatewayConfig, save_config
from carchain.sdk.account import Account
from carchain.sdk.client import Client
from carchain.sdk.gateway_client import GatewayClient
from carchain.sdk.keystore import save_key
from carchain.sdk.vin import compute_vin_commitment
from carchain.sim.embedded import EmbeddedNode, find_free_port
from tests.conftest import VIN_SALT, Processes, make_genesis, make_vin, seeded_key
from tests.dataplane import make_car, make_records, wait_for
from tests.gateway.test_gateway_cli import PASSPHRASE, carchain

KEYS = ("saic", "geely", "bosch", "stranger", "custodian/saic")


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    keyring = tmp_path / "keys"
    for label in KEYS:
        save_key(
            keyring / f"{label.replace('/', '-')}.json", seeded_key(label), PASSPHRASE, n=2**10
        )
    env = dict(
        os.environ, CARCHAIN_PASSPHRASE=PASSPHRASE, CARCHAIN_KEYRING=str(keyring), COLUMNS="200"
    )
    return keyring, env


def init(
    home: Path, key: str, node: str, env: dict[str, str], oem: str = "saic", port: int = 8710
) -> subprocess.CompletedProcess[str]:
    return carchain(
        "gateway", "init", "--home", str(home), "--oem", oem, "--key", key,
        "--custodian-key", "custodian-saic", "--node", node, "--port", str(port), env=env,
    )  # fmt: skip


def assert_one_line_refusal(proc: subprocess.CompletedProcess[str], text: str) -> None:
    assert proc.returncode == 1, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "gateway_key_not_oem" in lines[0] and text in lines[0], lines[0]
    assert "Traceback" not in proc.stderr + proc.stdout


@pytest.mark.timeout(180)
def test_invalid_init_and_start_with_a_key_that_is_not_the_oem(
    tmp_path: Path, setup: tuple[Path, dict[str, str]]
) -> None:
    keyring, env = setup
    with EmbeddedNode(tmp_path / "node", make_genesis(), block_interval_ms=50) as node:
        for key, oem, text in (
            ("bosch", "saic", "belongs to member 'bosch'"),  # a supplier
            ("geely", "saic", "belongs to member 'geely'"),  # another OEM
            ("stranger", "saic", "not a consortium member"),
            ("bosch", "bosch", "does not have the oem role"),
        ):
            home = tmp_path / f"gw-{key}-{oem}"
            assert_one_line_refusal(init(home, key, node.url, env, oem), text)
            assert not (home / "gateway.json").exists()
        ok = init(tmp_path / "gw-ok", "saic", node.url, env)
        assert ok.returncode == 0, ok.stderr
        # A home written by hand (or an older version) is refused at start.
        home = tmp_path / "gw-by-hand"
        save_config(
            home,
            GatewayConfig(
                "saic",
                str(keyring / "bosch.json"),
                seeded_key("custodian/saic").public_key.hex(),
                node.url,
                api_port=find_free_port(),
            ),
        )
        started = carchain("gateway", "start", "--home", str(home), env=env)
        assert_one_line_refusal(started, "belongs to member 'bosch'")


def suspend_saic(client: Client, chain_id: str) -> None:
    doc = Account(client, seeded_key("miit"), chain_id).send(gov.Propose(gov.SuspendMember("saic")))
    pid = int(
        next(e for e in doc["result"]["events"] if e["type"] == "proposal_created")["attributes"][
            "proposal_id"
        ]
    )
    for voter in ("bosch", "police", "geely"):
        Account(client, seeded_key(voter), chain_id).send(gov.Vote(pid, True))
    assert client.member("saic")["status"] == "suspended"


@pytest.mark.timeout(240)
def test_anchoring_failures_show_in_status_and_back_off(
    tmp_path: Path, setup: tuple[Path, dict[str, str]], processes: Processes
) -> None:
    _, env = setup
    genesis = make_genesis()
    car = make_car("saic:status-1", seeded_key("custodian/saic"))
    with (
        EmbeddedNode(tmp_path / "node", genesis, block_interval_ms=50) as node,
        Client(node.url) as client,
    ):
        Account(client, seeded_key("saic"), genesis.chain_id).send(
            RegisterVehicle(
                car.vehicle_id,
                compute_vin_commitment(make_vin("status"), VIN_SALT),
                car.key.public_key,
                "RX5",
                2024,
                car.owner.public_key,
            )
        )
        port = find_free_port()
        home = tmp_path / "gw"
        assert init(home, "saic", node.url, env, port=port).returncode == 0
        log_path = tmp_path / "gateway.log"
        with log_path.open("wb") as log:
            cmd = [sys.executable, "-m", "carchain.cli.main", "gateway", "start"]
            processes.start([*cmd, "--home", str(home)], env=env, stdout=log, stderr=log)
        url = f"http://127.0.0.1:{port}"
        gc = GatewayClient(url)

        def up() -> bool:
            try:
                return gc.status()["anchoring"] == "ok"
            except CarchainError:
                return False

        wait_for(up, 60, "gateway")
        suspend_saic(client, genesis.chain_id)  # the OEM loses its right to anchor
        rec = car.recorder()
        for t, r in make_records(5, int(time.time() * 1000) - 60_000):
            rec.add_at(r, t)
        gc.submit(rec.flush()[0].body)
        t0 = time.monotonic()
        wait_for(lambda: gc.status()["anchor_errors"] >= 4, 90, "four anchoring failures")
        elapsed = time.monotonic() - t0
        doc = gc.status()
        gc.close()
        assert doc["anchoring"] == "failing" and doc["unanchored"] == 1
        assert doc["anchor_last_error"].startswith("unauthorized")
        assert 0 < doc["anchor_failing_since_ms"] <= doc["anchor_last_error_ms"]
        # Backing off: waits of 0.4 s, 0.8 s, 1.6 s between the first four failures
        # (the old loop failed every 0.2 s), and a longer wait after each.
        assert elapsed >= 2.8 and doc["anchor_retry_in_s"] >= 3.2
        status = carchain("gateway", "status", "--gateway", url, env=env)
        assert status.returncode == 0
        assert (
            "anchoring: failing" in status.stdout
            and "anchor_last_error: unauthorized" in status.stdout
        )
        logged = [ln for ln in log_path.read_text().splitlines() if "anchoring failed" in ln]
        assert 1 <= len(logged) <= doc["anchor_errors_total"] + 1


def test_backoff_doubles_up_to_a_cap_and_resets_on_success() -> None:
    from carchain.errors import Unauthorized
    from carchain.gateway.service import MAX_BACKOFF_S, AnchoringHealth

    health = AnchoringHealth()
    waits = [health.record_failure(Unauthorized("no"), 1000 + i, 0.2) for i in range(12)]
    assert waits[:3] == [0.4, 0.8, 1.6] and waits[-1] == MAX_BACKOFF_S
    assert all(a <= b for a, b in itertools.pairwise(waits))
    doc = health.to_dict()
    assert (doc["anchoring"], doc["anchor_errors"], doc["anchor_failing_since_ms"]) == (
        "failing",
        12,
        1000,
    )
    health.record_success()
    doc = health.to_dict()
    assert (doc["anchoring"], doc["anchor_errors"], doc["anchor_errors_total"]) == ("ok", 0, 12)
