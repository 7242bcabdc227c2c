"""The demo's data stage: a fleet drives for a simulated hour through its OEMs' gateways.

Each driving vehicle records telemetry, diagnostics and V2X exchange logs (one
has a crash and records an EDR event), minimises them in the car, seals them
into batches and uploads them to its OEM's gateway; each gateway anchors what
it received with one transaction per block. At the end the crashed vehicle's
owner opens its category keys, decrypts the segments, and the EDR record is verified
end to end against a block header. Then one car is sold: it re-keys at once,
its next batch opens for the buyer and not for the seller, and the same batch
under the seller's old key is refused by the gateway.
"""

from __future__ import annotations

import base64
import json
import math
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
from rich.console import Console

from carchain.core.vehicles import TransferVehicle, Vehicle, get_vehicle
from carchain.crypto.signing import SigningKey
from carchain.data.batches import (
    EPOCH_MS,
    compute_epoch,
    compute_opened_records,
    decode_signed_header,
    decode_submitted,
    open_batch_segments,
)
from carchain.data.custody import open_batch_category_keys, open_category_key
from carchain.data.minimisation import FLEET_TELEMATICS_POLICY
from carchain.data.records import (
    Diagnostics,
    EdrEvent,
    Record,
    Telemetry,
    V2xLog,
    decode_record,
)
from carchain.errors import CarchainError, InvalidNonce
from carchain.gateway.server import EmbeddedGateway
from carchain.sdk.account import Account
from carchain.sdk.bundle_block import BlockTrust
from carchain.sdk.chainview import ChainView
from carchain.sdk.client import Client
from carchain.sdk.escrow_seats import ChainEscrowSource
from carchain.sdk.gateway_client import GatewayClient
from carchain.sdk.record_proofs import VerifiedRecord, build_record_proof, verify_record_proof
from carchain.sdk.transactions import sign_transfer_consent
from carchain.sdk.vehicle import Upload, VehicleRecorder

HOUR_MS = 3_600_000
UPLOAD_THREADS = 8


@dataclass(frozen=True, slots=True)
class Driver:
    """A vehicle that drives in the demo, with its key and its owner's."""

    vehicle_id: str
    oem: str
    key: SigningKey
    owner: SigningKey


@dataclass
class DriveStats:
    """What the data stage did."""

    vehicles: int = 0
    records: int = 0
    record_bytes: int = 0
    upload_bytes: int = 0
    batches: int = 0
    anchor_txs: int = 0
    anchor_blocks: int = 0
    max_anchors_per_gateway_block: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    verified: VerifiedRecord | None = None
    resale: str = ""
    seconds: float = 0.0
    start_ms: int = 0  # when the simulated hour began
    interval_ms: int = 0
    crash_ms: int = 0  # the crashed vehicle's EDR event time (0: no crash)


@dataclass(frozen=True, slots=True)
class DataPlane:
    """The running data plane, for stages that use it after the drive (sharing)."""

    client: Client
    gateways: dict[str, EmbeddedGateway]
    custodians: dict[str, SigningKey]
    drivers: list[Driver]
    crashed: Driver
    stats: DriveStats


def generate_records(
    index: int, start_ms: int, duration_ms: int, interval_ms: int, crash: bool
) -> Iterator[tuple[int, Record]]:
    """Yield ``(time, record)`` of one vehicle's simulated drive around Shanghai."""
    rng = random.Random(index)
    lat, lon = 31.23 + rng.uniform(-0.2, 0.2), 121.47 + rng.uniform(-0.2, 0.2)
    heading = rng.uniform(0, 360)
    speed = rng.uniform(20, 80)
    for i, t in enumerate(range(start_ms, start_ms + duration_ms, interval_ms)):
        heading = (heading + rng.uniform(-15, 15)) % 360
        speed = min(120.0, max(0.0, speed + rng.uniform(-8, 8)))
        step_km = speed * interval_ms / HOUR_MS
        lat += step_km / 111.0 * math.cos(math.radians(heading))
        lon += step_km / 95.0 * math.sin(math.radians(heading))
        yield t, Telemetry(t, lat, lon, round(speed, 1), round(heading, 1), rng.uniform(-2, 2))
        if i % 60 == 30:
            yield t, Diagnostics(t, ["P0301"] if rng.random() < 0.05 else [], False)
        if i % 30 == 15:
            peer = f"pseudonym-cert-{rng.getrandbits(64):016x}"
            yield t, V2xLog(t, "rx", peer, "BSM", rng.randbytes(32), lat, lon)
        if crash and i == 2 * duration_ms // interval_ms // 3:
            yield t, _crash_event(t, speed)


def _crash_event(t: int, speed: float) -> EdrEvent:
    # Braking over the last seconds before the impact, then a ~20 km/h delta-V pulse.
    pre = [round(speed + 3 * k, 1) for k in range(10, -1, -1)]
    dv = [round(-0.03 * k * k, 2) for k in range(26)]
    return EdrEvent(
        event_time_ms=t,
        pre_crash_speed_kmh=pre,
        service_brake=[k >= 7 for k in range(11)],
        accelerator_pedal_pct=[max(0.0, 30.0 - 6 * k) for k in range(11)],
        engine_rpm=[max(800, 2400 - 150 * k) for k in range(11)],
        driver_seatbelt_buckled=True,
        abs_status="active",
        esc_status="active",
        delta_v_long_kmh=dv,
        max_delta_v_long_kmh=min(dv),
        ignition_cycle_count=1287,
    )


def _start_gateways(
    stack: ExitStack,
    client: Client,
    oem_keys: dict[str, SigningKey],
    custodians: dict[str, SigningKey],
    data_dir: Path,
) -> dict[str, EmbeddedGateway]:
    """Start one embedded gateway per OEM, its custody service on (it releases and shreds)."""
    return {
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


def _count_uploads(uploads: list[tuple[str, Upload]], stats: DriveStats) -> None:
    """Record how many records, plaintext bytes and upload bytes the fleet produced."""
    stats.records = sum(u.record_count for _, u in uploads)
    stats.record_bytes = sum(u.plaintext_bytes for _, u in uploads)
    stats.upload_bytes = sum(u.size for _, u in uploads)


def run_drive(
    console: Console,
    client: Client,
    drivers: list[Driver],
    oem_keys: dict[str, SigningKey],
    data_dir: Path,
    *,
    revoked: Driver | None = None,
    interval_ms: int = 30_000,
    window_ms: int = HOUR_MS,
    bundle_dir: Path | None = None,
    after: Callable[[DataPlane], None] | None = None,
) -> DriveStats:
    """Drive ``drivers`` for a simulated hour through one embedded gateway per OEM.

    ``after`` runs once the drive is done, while the gateways still serve.
    """
    started = time.monotonic()
    start_ms = compute_drive_start(int(time.time() * 1000), HOUR_MS)
    stats = DriveStats(vehicles=len(drivers), start_ms=start_ms, interval_ms=interval_ms)
    start_height = int(client.status()["height"])
    custodians = {oem: SigningKey.generate() for oem in oem_keys}
    crashed = drivers[0]
    with ExitStack() as stack:
        gateways = _start_gateways(stack, client, oem_keys, custodians, data_dir)
        gclients = {oem: stack.enter_context(GatewayClient(g.url)) for oem, g in gateways.items()}
        escrow = {oem: ChainEscrowSource(client, oem) for oem in custodians}
        recorders = {
            d.vehicle_id: _make_recorder(d, custodians, window_ms, escrow) for d in drivers
        }
        uploads = _record_fleet(drivers, recorders, start_ms, interval_ms, stats)
        _count_uploads(uploads, stats)
        _upload_all(gclients, uploads)
        stats.batches = len(uploads)
        stats.rejected = _try_bad_uploads(gclients, uploads, revoked, custodians, start_ms)
        _wait_anchored(gclients)
        with GatewayClient(gateways[crashed.oem].url, signer=crashed.owner) as owner_gc:
            stats.verified = _verify_crash_record(client, owner_gc, crashed, bundle_dir)
        if len(drivers) > 1:
            sold = drivers[1]
            stats.resale = _sell_car(
                client, gclients[sold.oem], sold, oem_keys[sold.oem], recorders[sold.vehicle_id]
            )
        _count_anchors(client, start_height, stats)
        stats.seconds = time.monotonic() - started
        console.print(
            f"data plane: {stats.vehicles} vehicles drove an hour: {stats.records} records, "
            f"{stats.batches} batches, {stats.anchor_txs} anchor transactions"
        )
        if after is not None:
            after(DataPlane(client, gateways, custodians, drivers, crashed, stats))
    return stats


def compute_drive_start(now_ms: int, duration_ms: int) -> int:
    """Return when the simulated drive begins: ``duration_ms`` before now, or, when that
    would straddle midnight UTC (two key epochs, so every batch split in two), the
    same length before the day began, so a run near midnight behaves as any other."""
    start = now_ms - duration_ms
    day_start = compute_epoch(now_ms) * EPOCH_MS
    return start if start >= day_start else day_start - duration_ms


def _make_recorder(
    d: Driver,
    custodians: dict[str, SigningKey],
    window_ms: int,
    escrow: dict[str, ChainEscrowSource],
) -> VehicleRecorder:
    """Return the in-car recorder of ``d``, sealing its keys to the owner, the custodian
    and (escrowed categories) the escrow committee in force for each epoch."""
    return VehicleRecorder(
        d.vehicle_id,
        d.key,
        d.owner.public_key,
        custodians[d.oem].public_key,
        FLEET_TELEMATICS_POLICY,
        window_ms=window_ms,
        escrow=escrow[d.oem],
    )


def _record_fleet(
    drivers: list[Driver],
    recorders: dict[str, VehicleRecorder],
    start_ms: int,
    interval_ms: int,
    stats: DriveStats,
) -> list[tuple[str, Upload]]:
    """Return every ``(oem, upload)`` the fleet's hour of driving produces (the first crashes).

    An EDR event goes into a batch of its own (the car uploads it at once), so a
    grant over the crash's moment covers that record and no other.
    """
    uploads: list[tuple[str, Upload]] = []
    for i, d in enumerate(drivers):
        rec = recorders[d.vehicle_id]
        crash = d is drivers[0]
        for t, record in generate_records(i, start_ms, HOUR_MS, interval_ms, crash):
            if isinstance(record, EdrEvent):
                stats.crash_ms = t
                uploads.extend((d.oem, u) for u in [*rec.flush(), *rec.add_at(record, t)])
                uploads.extend((d.oem, u) for u in rec.flush())
                continue
            uploads.extend((d.oem, u) for u in rec.add_at(record, t))
        uploads.extend((d.oem, u) for u in rec.flush())
    return uploads


def _upload_all(gclients: dict[str, GatewayClient], uploads: list[tuple[str, Upload]]) -> None:
    """Upload every batch to its OEM's gateway, in parallel."""

    def send(item: tuple[str, Upload]) -> None:
        gclients[item[0]].submit(item[1].body)

    with ThreadPoolExecutor(UPLOAD_THREADS) as pool:
        list(pool.map(send, uploads))


def _wait_anchored(gclients: dict[str, GatewayClient], timeout_s: float = 60.0) -> None:
    """Return once every gateway anchored every batch; raise after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while any(g.status()["unanchored"] for g in gclients.values()):
        if time.monotonic() > deadline:
            raise CarchainError("gateways did not anchor every batch in time")
        time.sleep(0.05)


def _try_bad_uploads(
    gclients: dict[str, GatewayClient],
    uploads: list[tuple[str, Upload]],
    revoked: Driver | None,
    custodians: dict[str, SigningKey],
    start_ms: int,
) -> dict[str, int]:
    codes: Counter[str] = Counter()
    oem, first = uploads[0]
    attempts = [(oem, first.body)]  # a replay
    if revoked is not None:
        rec = VehicleRecorder(
            revoked.vehicle_id,
            revoked.key,
            revoked.owner.public_key,
            custodians[revoked.oem].public_key,
            FLEET_TELEMATICS_POLICY,
        )
        rec.add_at(Telemetry(start_ms, 31.2, 121.5, 10.0, 0.0, 0.0), start_ms)
        attempts += [(revoked.oem, u.body) for u in rec.flush()]
    for oem, body in attempts:
        try:
            gclients[oem].submit(body)
            codes["accepted"] += 1
        except CarchainError as exc:
            codes[exc.code] += 1
    return dict(codes)


def _verify_crash_record(
    client: Client, gc: GatewayClient, driver: Driver, bundle_dir: Path | None
) -> VerifiedRecord:
    for doc in gc.batches(driver.vehicle_id, anchored_only=True):
        if "crash_pulse" not in doc["categories"]:
            continue
        hh = bytes.fromhex(doc["header_hash"])
        proof_doc = gc.batch_proof(hh)
        signed = decode_signed_header(bytes.fromhex(proof_doc["batch_header"]))
        keys = open_batch_category_keys(signed, gc.key_envelope, driver.owner)
        opened = open_batch_segments(signed, gc.ciphertext(hh), keys)
        records = compute_opened_records(signed, opened)  # the owner opens every segment
        index = next(i for i, r in enumerate(records) if isinstance(decode_record(r), EdrEvent))
        bundle, header = build_record_proof(opened, index, proof_doc, client)
        if bundle_dir is not None:
            bundle_dir.mkdir(parents=True, exist_ok=True)
            (bundle_dir / "bundle.json").write_text(json.dumps(bundle, indent=2))
            (bundle_dir / "header.json").write_text(json.dumps(header, indent=2))
        # The demo holds its own copy of the header it just read: that is its trust root.
        return verify_record_proof(bundle, BlockTrust(own_header=header))
    raise CarchainError("the crash record was not found in an anchored batch")


def _sell_car(
    client: Client, gc: GatewayClient, d: Driver, oem_key: SigningKey, rec: VehicleRecorder
) -> str:
    """Sell ``d``'s car; it re-keys; show who can read what it records next."""
    buyer = SigningKey.generate()
    account = Account(client, oem_key)
    sig = sign_transfer_consent(account.chain_id, d.owner, d.vehicle_id, buyer.public_key, 0)
    deadline = time.monotonic() + 30
    while True:  # the OEM's gateway signs anchors with the same key: nonces may race
        try:
            account.send(TransferVehicle(d.vehicle_id, buyer.public_key, sig))
            break
        except InvalidNonce:
            if time.monotonic() > deadline:
                raise
    since = int(_get_vehicle(client, d.vehicle_id).owner_since_ms)
    stale = VehicleRecorder(d.vehicle_id, d.key, d.owner.public_key, rec.custodian, rec.policy)
    rec.process_transfer(buyer.public_key, since)
    after = Telemetry(since + 1000, 31.2, 121.5, 30.0, 90.0, 0.0)
    rec.add_at(after, since + 1000)
    stale.add_at(after, since + 1000)
    (fresh,) = rec.flush()
    (old_key,) = stale.flush()
    try:
        gc.submit(old_key.body)
        refused = "accepted (unexpected)"
    except CarchainError as exc:
        refused = f"refused ({exc.code})"
    gc.submit(fresh.body)
    ref = decode_signed_header(decode_submitted(fresh.body).header).header.segments[0].key_ref
    with GatewayClient(gc.url, signer=buyer) as buyer_gc:
        envelope = buyer_gc.key_envelope(ref)
    open_category_key(envelope, buyer)
    try:
        open_category_key(envelope, d.owner)
        seller = "opens it (unexpected)"
    except CarchainError:
        seller = "cannot open it"
    return (
        f"{d.vehicle_id} sold: re-keyed at the transfer; the buyer opens its next batch, "
        f"the seller {seller}; the same batch under the old key was {refused}"
    )


def _get_vehicle(client: Client, vehicle_id: str) -> Vehicle:
    return get_vehicle(ChainView(client), vehicle_id)


def _count_anchors(client: Client, start_height: int, stats: DriveStats) -> None:
    end = int(client.status()["height"])
    for h in range(start_height + 1, end + 1):
        per_signer: Counter[bytes] = Counter()
        for t in client.block(h)["txs"]:
            env = msgspec.msgpack.decode(base64.b64decode(t))
            if env[4] == "anchor.submit":
                per_signer[env[2]] += 1
        if per_signer:
            stats.anchor_txs += sum(per_signer.values())
            stats.anchor_blocks += 1
            stats.max_anchors_per_gateway_block = max(
                stats.max_anchors_per_gateway_block, max(per_signer.values())
            )
