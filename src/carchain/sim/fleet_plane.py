"""The fleet's data plane: register the simulated cars, upload their records through
each OEM's gateway, and let the gateways anchor them.

Nothing here seals or anchors by itself: each car's ``VehicleRecorder``
(``carchain.sdk.vehicle``) minimises, seals and signs its batches; each OEM's
``EmbeddedGateway`` stores them and anchors one transaction per block. A crash car
uploads its EDR event in a batch of its own (flushing before and after it), as a
car does at once after an impact, so a release over the crash's moment covers that
record and no other.
"""

from __future__ import annotations

import base64
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from carchain.core.vehicles import RegisterVehicle
from carchain.crypto.signing import SigningKey
from carchain.data.categories import DataCategory
from carchain.data.minimisation import Action, MinimisationPolicy, Rule
from carchain.data.records import EdrEvent
from carchain.errors import CarchainError
from carchain.gateway.server import EmbeddedGateway
from carchain.sdk.account import Account
from carchain.sdk.client import Client
from carchain.sdk.escrow_seats import ChainEscrowSource
from carchain.sdk.gateway_client import GatewayClient
from carchain.sdk.vehicle import Upload, VehicleRecorder
from carchain.sdk.vin import compute_vin_commitment, compute_vin_with_check_digit
from carchain.sim.fleet import derive_bytes, derive_key, derive_owner_key, derive_vehicle_key
from carchain.sim.phases import Phases
from carchain.sim.world import FleetWorld

REGISTER_BATCH = 250
UPLOAD_THREADS = 8
BATCH_WINDOW_MS = 3_600_000  # one batch a car an hour, as the demo's drive: gateways cost per batch

# The fleet's policy: time to the second, position to ~10 m, the peer of a V2X log
# kept as it is (it is already a pseudonym: a certificate's HashedId8, which only
# its CA can resolve), everything else collected.
SIM_POLICY = MinimisationPolicy(
    "fleet-sim",
    {
        **{c: Rule(Action.COLLECT) for c in DataCategory},
        DataCategory.TIME: Rule(Action.COARSEN, 1000),
        DataCategory.LOCATION: Rule(Action.COARSEN, 0.0001),
    },
)


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
    gateways: dict[str, EmbeddedGateway]
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
            _wait_committed(client, tx_hash)


def _wait_committed(client: Client, tx_hash: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while client._request("GET", f"/txs/{tx_hash}", ok=(200, 404)).get("state") != "committed":
        if time.monotonic() > deadline:
            raise CarchainError("transaction not committed in time")
        time.sleep(0.02)


def _record_car(world: FleetWorld, index: int, rec: VehicleRecorder) -> list[Upload]:
    """Return every batch car ``index`` uploads (an EDR event in a batch of its own)."""
    ups: list[Upload] = []
    for t, record in world.records[index]:
        if isinstance(record, EdrEvent):
            ups += rec.flush()
            ups += rec.add_at(record, t)
            ups += rec.flush()
        else:
            ups += rec.add_at(record, t)
    return ups + rec.flush()


def _upload(gclients: dict[str, GatewayClient], uploads: list[tuple[str, Upload]]) -> None:
    def send(item: tuple[str, Upload]) -> None:
        gclients[item[0]].submit(item[1].body)

    with ThreadPoolExecutor(UPLOAD_THREADS) as pool:
        list(pool.map(send, uploads))


def _seal_and_upload(
    world: FleetWorld,
    gclients: dict[str, GatewayClient],
    custodians: dict[str, SigningKey],
    escrow: dict[str, ChainEscrowSource],
    phases: Phases,
    stats: PlaneStats,
) -> None:
    """Seal each car's records into batches (in the car) and upload them, a chunk at a time."""
    seed, per_oem = world.params.seed, Counter[str]()
    with phases.phase("sealing + uploading batches", len(world.cars)) as advance:
        chunk: list[tuple[str, Upload]] = []
        for i, car in enumerate(world.cars):
            owner = derive_owner_key(seed, car).public_key
            rec = VehicleRecorder(
                car.vehicle_id, derive_vehicle_key(seed, car), owner,
                custodians[car.oem].public_key, SIM_POLICY, window_ms=BATCH_WINDOW_MS,
                escrow=escrow[car.oem],
            )  # fmt: skip
            ups = _record_car(world, i, rec)
            chunk += [(car.oem, u) for u in ups]
            stats.records += sum(u.record_count for u in ups)
            stats.upload_bytes += sum(u.size for u in ups)
            per_oem[car.oem] += len(ups)
            if len(chunk) >= 400 or i == len(world.cars) - 1:
                _upload(gclients, chunk)
                stats.batches += len(chunk)
                chunk = []
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


@contextmanager
def open_fleet_plane(
    client: Client,
    oem_keys: dict[str, SigningKey],
    world: FleetWorld,
    data_dir: Path,
    phases: Phases,
) -> Iterator[FleetPlane]:
    """Start one gateway per OEM, upload the world's records, wait for the anchors; yield
    the running plane (the gateways serve until the block ends)."""
    start_height = int(client.status()["height"])
    custodians = {oem: derive_custodian_key(world.params.seed, oem) for oem in oem_keys}
    stats = PlaneStats(vehicles=len(world.cars))
    with ExitStack() as stack:
        gateways = {
            oem: stack.enter_context(
                EmbeddedGateway(
                    data_dir / f"gateway-{oem}",
                    oem,
                    key,
                    custodians[oem].public_key,
                    client.url,
                    custodian_key=custodians[oem],
                )
            )
            for oem, key in oem_keys.items()
        }
        gclients = {o: stack.enter_context(GatewayClient(g.url)) for o, g in gateways.items()}
        escrow = {oem: ChainEscrowSource(client, oem) for oem in oem_keys}
        _seal_and_upload(world, gclients, custodians, escrow, phases, stats)
        with phases.phase("anchoring", 1) as advance:
            _wait_anchored(gclients)
            advance(1)
        _count_anchors(client, start_height, stats)
        yield FleetPlane(client, gateways, custodians, stats)


RunAfter = Callable[[FleetWorld, FleetPlane], None]
"""What runs while the gateways still serve: it gets the world and the running plane."""
