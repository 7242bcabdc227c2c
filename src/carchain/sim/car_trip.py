"""A simulated trip of one car (``carchain car drive``): what it records, sealed in its home.

The trip ends now and lasts ``minutes`` (moved back before midnight UTC when it
would straddle it, as the demo's drive does). Every 5 s the car records
telemetry (position, speed, heading, acceleration), every minute diagnostics,
optionally a crash (an EDR event per GB 39732-2020, two thirds into the trip,
sealed as a batch of its own so a grant over its second covers it alone) and,
with ``v2x``, the V2X exchange log: every 10 s a CAM it sent and one it heard,
each encoded as the real UPER message (``v2x/codec.py``) whose SHA-256 is logged
with the peer's pseudonym, never the message. Records are minimised by the fleet
policy, sealed and signed by ``VehicleRecorder`` under the car home's epoch keys
and counters, and every closed batch is stored in the home, pending upload.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field

from carchain.core.vehicles import get_vehicle_optional
from carchain.crypto.hashing import compute_sha256
from carchain.data.batches import compute_epoch
from carchain.data.records import Diagnostics, EdrEvent, Record, Telemetry, V2xLog
from carchain.errors import CarKeyMismatch, CarNotRegistered
from carchain.sdk.car_home import CarHome
from carchain.sdk.car_state import BatchEntry
from carchain.sdk.chainview import ChainView
from carchain.sdk.client import Client
from carchain.sdk.escrow_seats import ChainEscrowSource
from carchain.sim.drive import compute_drive_start
from carchain.v2x.codec import encode_cam
from carchain.v2x.messages import Kinematics, build_cam_value

MINUTE_MS = 60_000
TELEMETRY_MS = 5_000
V2X_MS = 10_000
MAX_MINUTES = 24 * 60


@dataclass(frozen=True, slots=True)
class TripPlan:
    """What to simulate: when, how long, and which optional records."""

    start_ms: int
    minutes: int
    edr: bool = False
    v2x: bool = False
    seed: int = 0


@dataclass
class TripReport:
    """What a drive recorded and stored."""

    start_ms: int
    end_ms: int
    records: int = 0
    dropped: int = 0
    batches: list[BatchEntry] = field(default_factory=list)
    crash_ms: int = 0


def plan_trip(now_ms: int, minutes: int, *, edr: bool, v2x: bool, seed: int) -> TripPlan:
    """Return a trip of ``minutes`` ending at ``now_ms`` (or before midnight UTC)."""
    if not 1 <= minutes <= MAX_MINUTES:
        raise ValueError(f"a trip lasts 1 to {MAX_MINUTES} minutes")
    start = compute_drive_start(now_ms, minutes * MINUTE_MS)
    return TripPlan(start, minutes, edr, v2x, seed)


def generate_trip(plan: TripPlan) -> Iterator[tuple[int, Record]]:
    """Yield ``(time, record)`` of the trip, in time order."""
    rng = random.Random(plan.seed)
    lat, lon = 31.23 + rng.uniform(-0.1, 0.1), 121.47 + rng.uniform(-0.1, 0.1)
    heading, speed = rng.uniform(0, 360), rng.uniform(30, 60)
    duration = plan.minutes * MINUTE_MS
    crash_at = plan.start_ms + (2 * duration // 3) // TELEMETRY_MS * TELEMETRY_MS
    for t in range(plan.start_ms, plan.start_ms + duration, TELEMETRY_MS):
        heading = (heading + rng.uniform(-10, 10)) % 360
        speed = min(110.0, max(0.0, speed + rng.uniform(-5, 5)))
        step_km = speed * TELEMETRY_MS / 3_600_000
        lat += step_km / 111.0 * math.cos(math.radians(heading))
        lon += step_km / 95.0 * math.sin(math.radians(heading))
        yield t, Telemetry(t, lat, lon, round(speed, 1), round(heading, 1), rng.uniform(-2, 2))
        if (t - plan.start_ms) % MINUTE_MS == 0:
            yield t, Diagnostics(t, ["P0420"] if rng.random() < 0.1 else [], False)
        if plan.v2x and (t - plan.start_ms) % V2X_MS == 0:
            yield from _v2x_logs(rng, t, lat, lon, speed, heading)
        if plan.edr and t == crash_at:
            yield t, build_crash(t, speed)


def build_crash(t: int, speed: float) -> EdrEvent:
    """Return the EDR record of a frontal impact at ``t``: the driver brakes over the
    last 2 s (GB 39732-2020 pre-crash series, 2 Hz over -5..0 s), then a delta-V pulse
    of about 25 km/h over 250 ms (10 ms steps)."""
    pre = [round(max(0.0, speed + 4.0 * max(0, k - 6)), 1) for k in range(10, -1, -1)]
    pulse = [round(-25.0 * math.sin(min(1.0, k / 12) * math.pi / 2), 2) for k in range(26)]
    return EdrEvent(
        event_time_ms=t,
        pre_crash_speed_kmh=pre,
        service_brake=[k >= 6 for k in range(11)],
        accelerator_pedal_pct=[20.0 if k < 6 else 0.0 for k in range(11)],
        engine_rpm=[2100 if k < 6 else 1200 for k in range(11)],
        driver_seatbelt_buckled=True,
        abs_status="active",
        esc_status="on",
        delta_v_long_kmh=pulse,
        max_delta_v_long_kmh=min(pulse),
        ignition_cycle_count=412,
    )


def _v2x_logs(
    rng: random.Random, t: int, lat: float, lon: float, speed: float, heading: float
) -> Iterator[tuple[int, Record]]:
    """One CAM sent and one heard: their UPER encodings' hashes and the peers' pseudonyms."""
    own = Kinematics(
        0, round(lat * 1e7), round(lon * 1e7), round(speed / 3.6 * 100), round(heading * 10)
    )
    sent = encode_cam(build_cam_value(rng.getrandbits(32), t, own))
    yield t, V2xLog(t, "tx", "self", "CAM", compute_sha256(sent), lat, lon)
    plat, plon = lat + rng.uniform(-0.002, 0.002), lon + rng.uniform(-0.002, 0.002)
    peer = Kinematics(
        0, round(plat * 1e7), round(plon * 1e7), rng.randrange(0, 3000), rng.randrange(0, 3600)
    )
    heard = encode_cam(build_cam_value(rng.getrandbits(32), t, peer))
    pseudonym = f"{rng.getrandbits(64):016x}"  # the sender's certificate HashedId8
    yield t, V2xLog(t, "rx", pseudonym, "CAM", compute_sha256(heard), plat, plon)


def drive(home: CarHome, client: Client, plan: TripPlan) -> TripReport:
    """Record ``plan``'s trip into ``home``: each closed batch is stored, pending upload.

    The owner (and a transfer) and the committee the keys are escrowed to are read
    from the chain; ``CarNotRegistered`` / ``CarKeyMismatch`` if the chain does not
    know this car's key.
    """
    vid = home.config.vehicle_id
    vehicle = get_vehicle_optional(ChainView(client), vid)
    if vehicle is None:
        raise CarNotRegistered(
            f"vehicle {vid!r} is not registered on chain; its OEM registers it with "
            f"--public-key {home.key.public_key.hex()}",
            vehicle_id=vid,
        )
    if vehicle.public_key != home.key.public_key:
        raise CarKeyMismatch(
            f"vehicle {vid!r} is registered with another key than this car home's",
            vehicle_id=vid,
        )
    escrow = ChainEscrowSource(client, vehicle.oem)
    # The first owner's period reaches back before the registration (a car records at
    # the factory); after a transfer, nothing before it is the new owner's.
    since_ms = vehicle.owner_since_ms if vehicle.transfer_seq else 0
    rec = home.make_recorder(vehicle.owner, since_ms, escrow)
    report = TripReport(plan.start_ms, plan.start_ms + plan.minutes * MINUTE_MS)
    home.state.trips += 1
    rec.get_epoch_key(compute_epoch(plan.start_ms))
    home.keep_recorder(rec)  # the trip's key and counters are on disk before any use
    for t, record in generate_trip(plan):
        report.records += 1
        if isinstance(record, EdrEvent):
            report.crash_ms = t
            closed = [*rec.flush(), *rec.add_at(record, t), *rec.flush()]
        else:
            closed = rec.add_at(record, t)
        for upload in closed:
            home.keep_recorder(rec)
            report.batches.append(home.store_batch(upload))
    for upload in rec.flush():
        home.keep_recorder(rec)
        report.batches.append(home.store_batch(upload))
    report.dropped = rec.dropped
    home.keep_recorder(rec)
    return report
