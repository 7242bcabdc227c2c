"""The fleet's data plane: register the simulated cars, upload their records through
each OEM's gateway, and let the gateways anchor them.

Nothing here seals or anchors by itself: each car's ``VehicleRecorder``
(``carchain.sdk.vehicle``) minimises, seals and signs its batches; each OEM's
gateway (``carchain.gateway``, each in a process of its own) stores them and anchors
one transaction per block. A crash car
uploads its EDR event in a batch of its own (flushing before and after it), as a
car does at once after an impact, so a release over the crash's moment covers that
record and no other.
"""

from __future__ import annotations

import base64
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import (
    ProcessPoolExecutor,
)
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from carchain.core.vehicles import RegisterVehicle
from carchain.crypto.signing import SigningKey
from carchain.errors import CarchainError
from carchain.gateway.process_host import GatewayHost, GatewaySpec
from carchain.sdk.account import Account
from carchain.sdk.client import Client
from carchain.sdk.escrow_seats import ChainEscrowSource
from carchain.sdk.gateway_client import GatewayClient
from carchain.sdk.vin import compute_vin_commitment, compute_vin_with_check_digit
from carchain.sim.fleet import derive_bytes, derive_key, derive_owner_key, derive_vehicle_key
from carchain.sim.fleet_sealing import read_escrow, upload_fleet
from carchain.sim.phases import Phases
from carchain.sim.world import FleetWorld

REGISTER_BATCH = 250


@dataclass
class PlaneStats:
    """What the data plane did."""

    vehicles: int = 0
    records: int = 0
    batches: int = 0
    upload_bytes: int = 0
    anchor_txs: int = 0
    anchor_blocks: int = 0
    max_anchors_per_gateway_block: int = 0
    per_oem_batches: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FleetPlane:
    """The running data plane (while ``open_fleet_plane``'s block lasts)."""

    client: Client
    gateways: dict[str, GatewayHost]
    custodians: dict[str, SigningKey]
    stats: PlaneStats


def _build_registration(account: Account, world: FleetWorld, index: int) -> bytes:
    car, seed = world.cars[index], world.params.seed
    body = RegisterVehicle(
        vehicle_id=car.vehicle_id,
        vin_commitment=compute_vin_commitment(
            compute_vin_with_check_digit(car.vin), derive_bytes(seed, "vin-salt/" + car.vehicle_id)
        ),
        public_key=derive_vehicle_key(seed, car).public_key,
        model=car.model.name,
        year=car.year,
        owner=derive_owner_key(seed, car).public_key,
    )
    return account.build(body)


def register_fleet(
    client: Client, accounts: dict[str, Account], world: FleetWorld, phases: Phases
) -> None:
    """Have each OEM register its cars, in batches; return once all are committed."""
    last: dict[str, str] = {}
    with phases.phase("registering vehicles", len(world.cars)) as advance:
        for lo in range(0, len(world.cars), REGISTER_BATCH):
            idx = range(lo, min(lo + REGISTER_BATCH, len(world.cars)))
            pending = [_build_registration(accounts[world.cars[i].oem], world, i) for i in idx]
            out = client.submit_batch(pending)
            for r, i in zip(out["results"], idx, strict=True):
                if r["check"]["code"] != 0:
                    raise CarchainError(f"vehicle registration refused: {r['check']}")
                last[world.cars[i].oem] = r["hash"]
            advance(len(pending))
        for tx_hash in last.values():
            wait_committed(client, tx_hash)


def wait_committed(client: Client, tx_hash: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while client._request("GET", f"/txs/{tx_hash}", ok=(200, 404)).get("state") != "committed":
        if time.monotonic() > deadline:
            raise CarchainError("transaction not committed in time")
        time.sleep(0.02)


def _seal_and_upload(
    world: FleetWorld,
    gateways: dict[str, str],
    custodians: dict[str, SigningKey],
    escrow: dict[str, ChainEscrowSource],
    phases: Phases,
    stats: PlaneStats,
    sealers: ProcessPoolExecutor,
) -> None:
    """Have the cars seal their records into batches and upload them through their OEM's
    gateway (``gateways``: OEM to URL), in the worker processes, each car in its own
    recorder; count what they sent."""
    per_oem = Counter[str]()
    known = {oem: read_escrow(source, world.records) for oem, source in escrow.items()}
    public = {oem: key.public_key for oem, key in custodians.items()}
    p = world.params
    sent = upload_fleet(
        sealers, gateways, p.seed, world.cars, world.records, public, known,
        p.batch_window_ms, p.start_ms,
    )  # fmt: skip
    with phases.phase("sealing + uploading batches", len(world.cars)) as advance:
        for _, car in sent:
            stats.records += car.records
            stats.upload_bytes += car.size
            stats.batches += car.batches
            per_oem[car.oem] += car.batches
            advance(1)
    stats.per_oem_batches = dict(per_oem)


def _wait_anchored(gclients: dict[str, GatewayClient], timeout_s: float = 120.0) -> None:
    """Return once every gateway anchored every batch; raise after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while any(g.status()["unanchored"] for g in gclients.values()):
        if time.monotonic() > deadline:
            raise CarchainError("gateways did not anchor every batch in time")
        time.sleep(0.05)


def _count_anchors(client: Client, start_height: int, stats: PlaneStats) -> None:
    """Count the anchor transactions since ``start_height``: how many, in how many blocks,
    and at most how many per gateway per block (one, whatever the fleet)."""
    for h in range(start_height + 1, int(client.status()["height"]) + 1):
        per_signer: Counter[bytes] = Counter()
        for t in client.block(h)["txs"]:
            env = msgspec.msgpack.decode(base64.b64decode(t))
            if env[4] == "anchor.submit":
                per_signer[env[2]] += 1
        if per_signer:
            stats.anchor_txs += sum(per_signer.values())
            stats.anchor_blocks += 1
            stats.max_anchors_per_gateway_block = max(
                stats.max_anchors_per_gateway_block, *per_signer.values()
            )


def derive_custodian_key(seed: int, oem: str) -> SigningKey:
    """Return the OEM custody service's key in the world of ``seed``."""
    return derive_key(seed, "custodian/" + oem)


def _start_gateways(
    hosts: Sequence[GatewayHost],
    node_url: str,
    oem_keys: dict[str, SigningKey],
    custodians: dict[str, SigningKey],
    data_dir: Path,
    stack: ExitStack,
) -> dict[str, GatewayHost]:
    """Start each OEM's gateway in a host process of its own (``hosts``, one an OEM,
    forked before the node started); each is stopped when ``stack`` closes."""
    if len(hosts) < len(oem_keys):
        raise CarchainError(f"{len(oem_keys)} gateways need as many hosts, not {len(hosts)}")
    gateways: dict[str, GatewayHost] = {}
    for host, (oem, key) in zip(hosts, oem_keys.items(), strict=False):
        stack.callback(host.stop)
        spec = GatewaySpec(
            data_dir / f"gateway-{oem}", oem, key.seed(), custodians[oem].public_key,
            node_url, custodian_seed=custodians[oem].seed(),
        )  # fmt: skip
        host.start_gateway(spec)
        gateways[oem] = host
    return gateways


@contextmanager
def open_fleet_plane(
    client: Client,
    oem_keys: dict[str, SigningKey],
    world: FleetWorld,
    data_dir: Path,
    phases: Phases,
    sealers: ProcessPoolExecutor,
    hosts: Sequence[GatewayHost],
) -> Iterator[FleetPlane]:
    """Start one gateway per OEM, each in a process of its own (``hosts``:
    ``gateway.process_host.open_gateway_hosts``), have the cars seal their records in
    ``sealers`` (``fleet_sealing.open_sealers``) and upload them, wait for the anchors;
    yield the running plane (the gateways serve until the block ends)."""
    start_height = int(client.status()["height"])
    custodians = {oem: derive_custodian_key(world.params.seed, oem) for oem in oem_keys}
    stats = PlaneStats(vehicles=len(world.cars))
    with ExitStack() as stack:
        gateways = _start_gateways(hosts, client.url, oem_keys, custodians, data_dir, stack)
        gclients = {o: stack.enter_context(GatewayClient(g.url)) for o, g in gateways.items()}
        escrow = {oem: ChainEscrowSource(client, oem) for oem in oem_keys}
        urls = {o: g.url for o, g in gateways.items()}
        _seal_and_upload(world, urls, custodians, escrow, phases, stats, sealers)
        with phases.phase("anchoring", 1) as advance:
            _wait_anchored(gclients)
            advance(1)
        _count_anchors(client, start_height, stats)
        yield FleetPlane(client, gateways, custodians, stats)


RunAfter = Callable[[FleetWorld, FleetPlane], None]
"""What runs while the gateways still serve: it gets the world and the running plane."""
