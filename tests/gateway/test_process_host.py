"""A gateway in a process of its own: forked before the node, started with its spec,
serving uploads from another process, refused with the gateway's own typed error,
and stopped by its pid whatever happened."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import carchain
from carchain.core.vehicles import RegisterVehicle
from carchain.errors import GatewayKeyNotOem
from carchain.gateway.process_host import GatewayHost, GatewaySpec, open_gateway_hosts
from carchain.sdk.account import Account
from carchain.sdk.client import Client
from carchain.sdk.gateway_client import GatewayClient
from carchain.sdk.vin import compute_vin_commitment
from carchain.sim.embedded import EmbeddedNode
from tests.conftest import VIN_SALT, make_genesis, make_vin, seeded_key
from tests.dataplane import make_car, make_records, wait_for

CUSTODIAN = seeded_key("custodian/saic")


def make_spec(tmp: Path, node_url: str, oem_key: str = "saic") -> GatewaySpec:
    return GatewaySpec(
        tmp / "gateway", "saic", seeded_key(oem_key).seed(), CUSTODIAN.public_key, node_url,
        anchor_interval_s=0.05, custodian_seed=CUSTODIAN.seed(),
    )  # fmt: skip


@pytest.fixture
def hosted(tmp_path: Path) -> Iterator[tuple[list[GatewayHost], EmbeddedNode]]:
    """Two hosts forked first, then the node they will talk to."""
    genesis = make_genesis()
    with (
        open_gateway_hosts(2) as hosts,
        EmbeddedNode(tmp_path / "node", genesis, block_interval_ms=50) as node,
    ):
        yield hosts, node


def test_a_hosted_gateway_stores_and_anchors_from_another_process(
    hosted: tuple[list[GatewayHost], EmbeddedNode], tmp_path: Path
) -> None:
    hosts, node = hosted
    url = hosts[0].start_gateway(make_spec(tmp_path, node.url))
    assert hosts[0].process.pid != os.getpid() and hosts[0].process.is_alive()
    car = make_car("saic:car-1", CUSTODIAN)
    register = RegisterVehicle(
        car.vehicle_id, compute_vin_commitment(make_vin(car.vehicle_id), VIN_SALT),
        car.key.public_key, "RX5", 2024, car.owner.public_key,
    )  # fmt: skip
    with Client(node.url) as client, GatewayClient(url) as gateway:
        Account(client, seeded_key("saic")).send(register)
        recorder = car.recorder(window_ms=60_000)
        uploads = [u for t, r in make_records(12, int(time.time() * 1000) - 600_000, 10_000)
                   for u in recorder.add_at(r, t)] + recorder.flush()  # fmt: skip
        assert len(uploads) >= 2
        results = gateway.submit_group([u.body for u in uploads])
        assert [r.get("header_hash", r) for r in results] == [u.header_hash.hex() for u in uploads]
        wait_for(lambda: gateway.status()["unanchored"] == 0, what="anchoring")
        assert gateway.status()["batches"] == len(uploads)
    hosts[0].stop()
    assert not hosts[0].process.is_alive()
    with pytest.raises(httpx.TransportError):
        httpx.get(url + "/status", timeout=2)
    hosts[0].stop()  # a stopped host stops again without error


def test_a_gateway_whose_key_is_not_the_oems_is_refused_with_its_typed_error(
    hosted: tuple[list[GatewayHost], EmbeddedNode], tmp_path: Path
) -> None:
    hosts, node = hosted
    with pytest.raises(GatewayKeyNotOem):
        hosts[1].start_gateway(make_spec(tmp_path, node.url, oem_key="geely"))
    hosts[1].process.join(30)
    assert not hosts[1].process.is_alive()


def test_an_unused_host_ends_when_stopped(tmp_path: Path) -> None:
    with open_gateway_hosts(1) as hosts:
        assert hosts[0].process.is_alive()
    assert not hosts[0].process.is_alive()


_ORPHAN_SCRIPT = """
import sys, threading
from pathlib import Path
from carchain.gateway.process_host import GatewayHost, GatewaySpec
from carchain.crypto.signing import SigningKey
host = GatewayHost()
if sys.argv[6] == "waiting":  # killed before its gateway's spec came
    print(host.process.pid, "-", flush=True)
    threading.Event().wait()
spec = GatewaySpec(Path(sys.argv[1]), "saic", bytes.fromhex(sys.argv[2]),
                   bytes.fromhex(sys.argv[3]), sys.argv[4], 0.05, bytes.fromhex(sys.argv[5]))
url = host.start_gateway(spec)
print(host.process.pid, url, flush=True)
threading.Event().wait()
"""


def _has_ended(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")  # a zombie has ended (its new parent may not reap it)


@pytest.mark.parametrize("when", ["serving", "waiting"])
def test_a_host_whose_parent_is_killed_ends(
    hosted: tuple[list[GatewayHost], EmbeddedNode], tmp_path: Path, when: str
) -> None:
    _, node = hosted
    args = [str(tmp_path / "orphan"), seeded_key("saic").seed().hex(), CUSTODIAN.public_key.hex(),
            node.url, CUSTODIAN.seed().hex(), when]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(Path(carchain.__file__).parents[1])}
    parent = subprocess.Popen(
        [sys.executable, "-c", _ORPHAN_SCRIPT, *args], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert parent.stdout is not None
        pid_text, url = parent.stdout.readline().split()
        if when == "serving":
            assert httpx.get(url + "/status", timeout=5).status_code == 200
    finally:
        parent.kill()  # SIGKILL by its pid: no clean-up runs in it
        parent.wait(30)
    wait_for(lambda: _has_ended(int(pid_text)), what="the orphaned host to end")
    if when == "serving":
        with pytest.raises(httpx.TransportError):
            httpx.get(url + "/status", timeout=2)


def test_a_spec_never_shows_its_seeds(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, "http://127.0.0.1:1")
    assert spec.oem_seed.hex() not in repr(spec) and "oem_seed" not in repr(spec)
    assert spec.custodian_seed is not None and spec.custodian_seed.hex() not in repr(spec)
