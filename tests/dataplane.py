"""The data plane's shared test helpers: vehicles, uploads, an ingestor over a fake
registry, and a live world (embedded node + embedded gateway) for end-to-end tests.

The fixtures here (``rig``, ``world``, ``proven``) are imported by the conftest.py of
each directory that uses them (tests/gateway, tests/sdk, tests/docs)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import pytest

from carchain.core.vehicles import OwnerPeriod, RegisterVehicle, Vehicle, get_current_owner_period
from carchain.crypto.signing import SigningKey
from carchain.data.batches import (
    OpenedSegment,
    SignedBatchHeader,
    SubmittedBatch,
    compute_header_signing_bytes,
    compute_opened_records,
    decode_signed_header,
    decode_submitted,
    encode_submitted,
    open_batch_segments,
)
from carchain.data.categories import DataCategory
from carchain.data.custody import open_batch_category_keys
from carchain.data.minimisation import Action, MinimisationPolicy, Rule
from carchain.data.records import EdrEvent, Record, Telemetry, decode_record
from carchain.errors import InvalidNonce, NotFound
from carchain.gateway.ingest import IngestLimits, Ingestor
from carchain.gateway.journal import Journal
from carchain.gateway.server import EmbeddedGateway
from carchain.sdk.account import Account
from carchain.sdk.client import Client
from carchain.sdk.gateway_client import GatewayClient
from carchain.sdk.record_proofs import build_record_proof
from carchain.sdk.vehicle import Upload, VehicleRecorder
from carchain.sdk.vin import compute_vin_commitment
from carchain.sim.embedded import EmbeddedNode
from carchain.storage.blobstore import FileBlobStore
from carchain.storage.s3_location import S3Location
from tests.conftest import VIN_SALT, make_genesis, make_vin, seeded_key

DAY_MS = 86_400_000
NOW_MS = 20_000 * DAY_MS + 12 * 3_600_000  # noon UTC of some day
COLLECT_ALL = MinimisationPolicy(
    "collect-all", {c: Rule(Action.COLLECT) for c in DataCategory if c != DataCategory.V2X_PEER}
)


def make_records(n: int, start_ms: int, step_ms: int = 1000) -> list[tuple[int, Record]]:
    """Return ``n`` telemetry records one ``step_ms`` apart."""
    return [
        (
            start_ms + i * step_ms,
            Telemetry(start_ms + i * step_ms, 31.2, 121.4, 50.0 + i, 90.0, 0.1),
        )
        for i in range(n)
    ]


@dataclass
class Car:
    """A vehicle with its key, its owner's key and a recorder."""

    vehicle_id: str
    key: SigningKey
    owner: SigningKey
    custodian: SigningKey
    oem: str = "saic"

    def recorder(self, **kw: object) -> VehicleRecorder:
        """Return a fresh recorder (collect-all policy) for this car."""
        return VehicleRecorder(
            self.vehicle_id,
            self.key,
            self.owner.public_key,
            self.custodian.public_key,
            COLLECT_ALL,
            **kw,  # type: ignore[arg-type]
        )

    def upload(self, n: int = 10, start_ms: int = NOW_MS - 600_000, **kw: object) -> Upload:
        """Return one closed batch of ``n`` records starting at ``start_ms``."""
        kw.setdefault("window_ms", 10**9)
        rec = self.recorder(**kw)
        out: list[Upload] = []
        for t, r in make_records(n, start_ms):
            out += rec.add_at(r, t)
        out += rec.flush()
        assert len(out) == 1
        return out[0]

    def vehicle(self, status: str = "active", oem: str | None = None) -> Vehicle:
        """Return the registry record of this car."""
        return Vehicle(
            vehicle_id=self.vehicle_id,
            oem=oem or self.oem,
            vin_commitment=b"\x00" * 32,
            public_key=self.key.public_key,
            model="RX5",
            year=2024,
            owner=self.owner.public_key,
            status=status,
            registered_height=1,
        )


def make_car(name: str, custodian: SigningKey, oem: str = "saic") -> Car:
    """Return a car with seeded keys."""
    return Car(name, seeded_key(f"vehicle/{name}"), seeded_key(f"owner/{name}"), custodian, oem)


def resign_header(upload: Upload | bytes, key: SigningKey, **changes: object) -> bytes:
    """Return the upload with header fields changed and the header signed by ``key``."""
    sub = decode_submitted(upload if isinstance(upload, bytes) else upload.body)
    signed = msgspec.msgpack.decode(sub.header, type=SignedBatchHeader)
    header = msgspec.structs.replace(signed.header, **changes)
    new = SignedBatchHeader(header, key.sign(compute_header_signing_bytes(header)))
    return encode_submitted(
        SubmittedBatch(msgspec.msgpack.encode(new), sub.ciphertext, sub.key_envelopes)
    )


def envelopes_of(upload: Upload | bytes) -> dict[bytes, bytes]:
    """Return the upload's category key envelopes by key_ref."""
    from carchain.data.custody import compute_key_ref

    raw = upload if isinstance(upload, bytes) else upload.body
    return {compute_key_ref(e): e for e in decode_submitted(raw).key_envelopes}


def decrypt_upload(upload: Upload | bytes, key: SigningKey) -> list[bytes]:
    """Return the records ``key`` can read of an upload, from the upload's own envelopes
    (the owner: all of them; the custodian: the non-sensitive categories)."""
    raw = upload if isinstance(upload, bytes) else upload.body
    sub = decode_submitted(raw)
    signed = decode_signed_header(sub.header)
    keys = open_batch_category_keys(signed, envelopes_of(raw).__getitem__, key)
    return compute_opened_records(signed, open_batch_segments(signed, sub.ciphertext, keys))


def resign_segment(
    upload: Upload | bytes, key: SigningKey, category: str, **changes: object
) -> bytes:
    """Return the upload with one segment's header fields changed, re-signed by ``key``."""
    raw = upload if isinstance(upload, bytes) else upload.body
    h = decode_signed_header(decode_submitted(raw).header).header
    segments = [
        msgspec.structs.replace(s, **changes) if s.category == category else s for s in h.segments
    ]
    return resign_header(raw, key, segments=segments)


def replace_upload(upload: Upload, **changes: object) -> bytes:
    """Return the upload's encoding with some of its three parts replaced."""
    sub = decode_submitted(upload.body)
    return encode_submitted(msgspec.structs.replace(sub, **changes))


class FakeDirectory:
    """An in-memory vehicle registry with past ownership periods."""

    def __init__(self) -> None:
        self.vehicles: dict[str, Vehicle] = {}
        self.history: dict[str, list[OwnerPeriod]] = {}

    def get_vehicle(self, vehicle_id: str, not_before_ms: int = 0) -> Vehicle:
        """Return the vehicle or raise ``NotFound``."""
        try:
            return self.vehicles[vehicle_id]
        except KeyError:
            raise NotFound("no such vehicle") from None

    def get_owner_period(self, vehicle: Vehicle, time_ms: int) -> OwnerPeriod:
        """Return the period holding ``time_ms`` or raise ``NotFound``."""
        periods = [*self.history.get(vehicle.vehicle_id, []), get_current_owner_period(vehicle)]
        for p in periods:
            if p.since_ms <= time_ms < p.until_ms:
                return p
        return periods[0]  # before registration: the first owner, as the chain directory

    def transfer(self, vehicle_id: str, new_owner: bytes, at_ms: int) -> None:
        """Hand the vehicle to ``new_owner`` from ``at_ms`` on, as the chain does."""
        v = self.vehicles[vehicle_id]
        self.history.setdefault(vehicle_id, []).append(
            OwnerPeriod(v.owner, v.owner_since_ms, at_ms)
        )
        self.vehicles[vehicle_id] = msgspec.structs.replace(
            v, owner=new_owner, owner_since_ms=at_ms, transfer_seq=v.transfer_seq + 1
        )


@dataclass
class IngestRig:
    """An ingestor over a temporary blob store and journal and a fake registry."""

    ingestor: Ingestor
    blobs: FileBlobStore
    keys: FileBlobStore
    journal: Journal
    directory: FakeDirectory
    custodian: SigningKey
    cars: dict[str, Car] = field(default_factory=dict)

    def car(self, name: str, status: str = "active", oem: str = "saic") -> Car:
        """Return a car registered in the fake registry."""
        car = make_car(name, self.custodian)
        self.directory.vehicles[name] = car.vehicle(status, oem)
        self.cars[name] = car
        return car

    def stored(self) -> tuple[set[bytes], int, int]:
        """Return what is stored: blob addresses, journal batches, unanchored batches."""
        return (
            set(self.blobs.iter_digests()) | set(self.keys.iter_digests()),
            self.journal.count_batches()[0],
            len(self.journal.get_unanchored(10_000)),
        )

    def process(self, raw: bytes, now_ms: int = NOW_MS) -> bytes:
        """Process an upload at ``now_ms``; return its header hash."""
        return self.ingestor.process_batch_at(raw, now_ms).header_hash


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[IngestRig]:
    """An ingestor for OEM ``saic`` with small limits (64 KiB uploads, 1000 records)."""
    blobs = FileBlobStore(tmp_path / "blobs")
    keys = FileBlobStore(tmp_path / "keys")
    journal = Journal(tmp_path / "journal.db")
    directory = FakeDirectory()
    custodian = seeded_key("custodian/saic")
    ingestor = Ingestor(
        "saic",
        custodian.public_key,
        blobs,
        keys,
        journal,
        directory,
        IngestLimits(max_upload_bytes=64 * 1024, max_records=1000),
    )
    yield IngestRig(ingestor, blobs, keys, journal, directory, custodian)
    journal.close()


def wait_for(predicate: Callable[[], bool], timeout_s: float = 30.0, what: str = "") -> None:
    """Poll ``predicate`` until it holds or the deadline passes."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.02)


def register_cars(client: Client, cars: list[Car]) -> None:
    """Register ``cars`` as SAIC (its first transactions: sync mode, then wait for all)."""
    oem = Account(client, seeded_key("saic"))
    for car in cars:
        body = RegisterVehicle(
            car.vehicle_id,
            compute_vin_commitment(make_vin(car.vehicle_id), VIN_SALT),
            car.key.public_key,
            "RX5",
            2024,
            car.owner.public_key,
        )
        oem.send(body, "sync")
    wait_for(lambda: client.nonce(seeded_key("saic").public_key) == len(cars), 30)


@dataclass
class World:
    """A live embedded node with registered cars and SAIC's embedded gateway."""

    node: EmbeddedNode
    client: Client
    gateway: EmbeddedGateway
    gclient: GatewayClient
    oem: Account
    custodian: SigningKey
    cars: dict[str, Car]

    def register(self, name: str, oem: str = "saic") -> Car:
        """Register a new car on chain (commit) and return it."""
        car = make_car(name, self.custodian, oem)
        self.send(
            RegisterVehicle(
                name,
                compute_vin_commitment(make_vin(name), VIN_SALT),
                car.key.public_key,
                "RX5",
                2024,
                car.owner.public_key,
            ),
            oem,
        )
        self.cars[name] = car
        return car

    def send(self, body: msgspec.Struct, oem: str = "saic") -> None:
        """Send as an OEM, retrying while the gateway's anchors hold the key's next nonce."""
        account = self.oem if oem == "saic" else Account(self.client, seeded_key(oem))
        deadline = time.monotonic() + 30
        while True:
            try:
                account.send(body)
                return
            except InvalidNonce:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def wait_anchored(self) -> None:
        """Wait until the gateway anchored every batch it accepted."""
        wait_for(lambda: self.gclient.status()["unanchored"] == 0, what="anchoring")


@contextlib.contextmanager
def open_world(tmp: Path, s3: S3Location | None = None) -> Iterator[World]:
    """A live node + SAIC gateway (its blobs in ``s3`` if given; registry view strict),
    one car registered."""
    genesis = make_genesis()
    custodian = seeded_key("custodian/saic")
    with EmbeddedNode(tmp / "node", genesis, block_interval_ms=50) as node:
        client = Client(node.url)
        oem = Account(client, seeded_key("saic"), genesis.chain_id)
        gw = EmbeddedGateway(
            tmp / "gateway", "saic", seeded_key("saic"), custodian.public_key, node.url, 0.05,
            s3=s3,
        )  # fmt: skip
        gw.gateway.registry.strict = True
        gw.start()
        gclient = GatewayClient(gw.url, signer=seeded_key("saic"))  # reads as the OEM
        w = World(node, client, gw, gclient, oem, custodian, {})
        w.register("saic:car-1")
        try:
            yield w
        finally:
            gclient.close()
            gw.stop()
            client.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A live node + SAIC gateway (registry view strict), one car registered."""
    with open_world(tmp_path_factory.mktemp("world")) as w:
        yield w


def anchored_edr(world: World, car_id: str) -> tuple[dict[str, OpenedSegment], int, dict[str, Any]]:
    """Upload and anchor a batch with an EDR record; return its segments as the owner
    opens them (all), the EDR record's index and the batch proof."""
    from tests.data.test_records import edr

    car = world.cars[car_id]
    rec = car.recorder()
    now = int(time.time() * 1000) - 120_000
    ups = []
    for t, r in make_records(40, now):
        ups += rec.add_at(r, t)
    ups += rec.add_at(edr(), now + 41_000)
    ups += rec.flush()
    for up in ups:
        world.gclient.submit(up.body)
    world.wait_anchored()
    doc = world.gclient.batch_proof(ups[-1].header_hash)
    signed = decode_signed_header(bytes.fromhex(doc["batch_header"]))
    keys = open_batch_category_keys(signed, world.gclient.key_envelope, car.owner)
    opened = open_batch_segments(signed, world.gclient.ciphertext(ups[-1].header_hash), keys)
    records = compute_opened_records(signed, opened)
    index = next(i for i, r in enumerate(records) if isinstance(decode_record(r), EdrEvent))
    return opened, index, doc


@pytest.fixture(scope="module")
def proven(world: World) -> tuple[dict[str, Any], dict[str, Any]]:
    """A bundle proving the EDR record of an anchored batch, and its block header."""
    records, index, doc = anchored_edr(world, "saic:car-1")
    return build_record_proof(records, index, doc, world.client)


def make_stored_batch(world: World, vehicle_id: str) -> tuple[str, bytes, bytes]:
    """Register a car and store one batch at the gateway: (vehicle id, header hash, key_ref
    of its first segment)."""
    car = world.register(vehicle_id)
    up = car.upload(start_ms=int(time.time() * 1000) - 600_000)
    world.gclient.submit(up.body)
    ref = decode_signed_header(decode_submitted(up.body).header).header.segments[0].key_ref
    return car.vehicle_id, up.header_hash, ref
