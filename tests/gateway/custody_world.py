"""A live world for the custody service: embedded node (with a court member), SAIC's
gateway running its custody loop, cars with telemetry + diagnostics batches, and a
requester member (bosch)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest

from carchain.core import access_log
from carchain.core.access import RequestAccess, get_request_count
from carchain.core.consents import GrantConsent
from carchain.data.records import Diagnostics
from carchain.gateway.server import EmbeddedGateway
from carchain.sdk.account import Account
from carchain.sdk.chainview import ChainView
from carchain.sdk.client import Client
from carchain.sdk.gateway_client import GatewayClient
from carchain.sdk.vehicle import Upload
from carchain.sim.embedded import EmbeddedNode
from tests.conftest import FOUNDERS, make_genesis, seeded_key
from tests.dataplane import Car, World, make_records, wait_for

COURT = ("court", "People's Court", ["court"], 0)
REQUESTER = "bosch"
HOUR_MS = 3_600_000
MAINTENANCE = "maintenance_diagnostics"


@dataclass
class CustodyWorld(World):
    """The data plane's world, with the custodian key in the gateway and helpers."""

    tmp: Path = Path()
    node_url: str = ""

    def upload_mixed(self, car: Car, minutes_ago: int = 10) -> list[Upload]:
        """Upload (and anchor) two batches of telemetry and diagnostics of ``car``."""
        rec = car.recorder(window_ms=60_000)
        ups: list[Upload] = []
        start = int(time.time() * 1000) - minutes_ago * 60_000
        for i, (t, r) in enumerate(make_records(100, start)):
            ups += rec.add_at(r, t)
            if i % 10 == 0:
                ups += rec.add_at(Diagnostics(t + 1, ["P0301"], True), t + 1)
        ups += rec.flush()
        for up in ups[:2]:
            self.gclient.submit(up.body)
        self.wait_anchored()
        return ups[:2]

    def owner_send(self, car: Car, body: msgspec.Struct) -> dict[str, Any]:
        """Send a transaction signed by the car's owner."""
        return Account(self.client, car.owner).send(body)

    def grant(
        self, car: Car, categories: list[str], purpose: str = "maintenance_diagnostics"
    ) -> None:
        """Grant ``bosch`` the categories of the last day, for a day."""
        now = int(time.time() * 1000)
        body = GrantConsent(
            car.vehicle_id, sorted(categories), purpose, REQUESTER, "",
            now - 24 * HOUR_MS, now + HOUR_MS, now + 24 * HOUR_MS,
        )  # fmt: skip
        self.owner_send(car, body)

    def request(
        self, car: Car, categories: list[str], purpose: str = "maintenance_diagnostics"
    ) -> int:
        """Ask as ``bosch`` for the categories of the last hour; return the request seq."""
        seq = get_request_count(ChainView(self.client), car.vehicle_id)
        now = int(time.time() * 1000)
        body = RequestAccess(car.vehicle_id, sorted(categories), now - HOUR_MS, now, purpose)
        Account(self.client, seeded_key(REQUESTER)).send(body)
        return seq

    def log_kinds(self, vehicle_id: str) -> list[str]:
        """Return the vehicle's access-log kinds, oldest first."""
        page = access_log.get_access_log_page(ChainView(self.client), vehicle_id, None, 100)
        return [e.kind for e in reversed(page)]

    def wait_kind(self, vehicle_id: str, kind: str, count: int = 1) -> None:
        """Wait until the vehicle's access log holds ``count`` events of ``kind``."""
        wait_for(lambda: self.log_kinds(vehicle_id).count(kind) >= count, what=kind)

    def start_gateway(self) -> None:
        """(Re)start SAIC's gateway over the same data folder, custody on."""
        gw = EmbeddedGateway(
            self.tmp / "gateway", "saic", seeded_key("saic"), self.custodian.public_key,
            self.node_url, 0.05, custodian_key=self.custodian,
        )  # fmt: skip
        gw.gateway.registry.strict = True
        gw.start()
        self.gateway = gw
        self.gclient = GatewayClient(gw.url, signer=seeded_key("saic"))

    def stop_gateway(self) -> None:
        """Stop the gateway (its API, anchoring and custody loops)."""
        self.gclient.close()
        self.gateway.stop()

    def requester_gateway(self) -> GatewayClient:
        """Return a gateway client signing as the requester."""
        return GatewayClient(self.gateway.url, signer=seeded_key(REQUESTER))


@pytest.fixture(scope="module")
def custody_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CustodyWorld]:
    """A live node (founders + a court) and SAIC's gateway with its custody service."""
    tmp = tmp_path_factory.mktemp("custody")
    genesis = make_genesis(founders=(*FOUNDERS, COURT))
    custodian = seeded_key("custodian/saic")
    with EmbeddedNode(tmp / "node", genesis, block_interval_ms=50) as node:
        client = Client(node.url)
        oem = Account(client, seeded_key("saic"), genesis.chain_id)
        w = CustodyWorld(node, client, None, None, oem, custodian, {}, tmp, node.url)  # type: ignore[arg-type]
        w.start_gateway()
        try:
            yield w
        finally:
            w.stop_gateway()
            client.close()
