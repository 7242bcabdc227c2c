"""What each car records over the drive: telemetry, diagnostics, V2X exchange logs.

Telemetry is one record a minute (``TELEMETRY_MS``), aggregated from the route's
samples as a car's logger does (position, heading, mean speed, mean acceleration);
diagnostics are read every ``DIAGNOSTICS_MS`` (a few cars carry a trouble code);
each CAM the car heard becomes a ``V2xLog`` entry naming the sender by its
pseudonym's HashedId8 and the message by a digest of the CAM's content, at the
receiver's own position. Simulating 1609.2 signatures for each of the 10^5 CAMs
an hour would cost minutes (1.3 ms each), so the message hash is
``sha256("carchain/sim-cam/v1" || HashedId8 || time || position, speed, heading in
ETSI units)``: what identifies one CAM in a log; real certificates and real signed
car-to-car transfers are used where they are verifiable (see ``world``).
"""

from __future__ import annotations

import hashlib
import random
import struct
from collections.abc import Callable, Sequence

from carchain.data.records import Diagnostics, Record, Telemetry, V2xLog
from carchain.sim.city import compute_latlon
from carchain.sim.pseudonyms import Pseudonym
from carchain.sim.routes import Route

TELEMETRY_MS = 60_000  # one aggregated record a minute
SAMPLE_MS = 20_000  # the speed samples a minute's record averages
DIAGNOSTICS_MS = 600_000
CAM_DIGEST_DOMAIN = b"carchain/sim-cam/v1"  # fixed-length fields follow
Advance = Callable[[int], None]
TROUBLE_CODES = ("P0301", "P0420", "P0171", "U0100", "B1000")


def compute_cam_digest(hashed_id8: bytes, t_ms: int, route: Route) -> bytes:
    """Return the digest of the CAM the car with ``hashed_id8`` sent at ``t_ms``."""
    return compute_cam(hashed_id8, t_ms, route)[2]


def compute_cam(hashed_id8: bytes, t_ms: int, route: Route) -> tuple[float, float, bytes]:
    """Return where the car with ``hashed_id8`` was at ``t_ms`` (lat, lon) and the digest
    of the CAM it sent then."""
    s = route.sample_at(t_ms)
    lat, lon = compute_latlon(s.x, s.y)
    fields = struct.pack(
        ">qiiHH", t_ms, round(lat * 1e7), round(lon * 1e7), round(s.speed_kmh / 0.036),
        round(s.heading_deg * 10) % 3600,
    )  # fmt: skip
    return lat, lon, hashlib.sha256(CAM_DIGEST_DOMAIN + hashed_id8 + fields).digest()


def compute_telemetry(route: Route, start_ms: int, end_ms: int) -> list[tuple[int, Record]]:
    """Return the car's telemetry over ``[start_ms, end_ms)``: one record a minute, as a
    car's logger aggregates it (position and heading at the minute's end, the mean of
    the minute's speed samples taken every ``SAMPLE_MS``, the mean longitudinal
    acceleration over the minute)."""
    out: list[tuple[int, Record]] = []
    per_record = TELEMETRY_MS // SAMPLE_MS
    speeds = [route.sample_at(t).speed_kmh for t in range(start_ms, end_ms, SAMPLE_MS)]
    first, first_t = speeds[0], start_ms
    for k, t in enumerate(range(start_ms + TELEMETRY_MS - SAMPLE_MS, end_ms, TELEMETRY_MS)):
        s = route.sample_at(t)
        lat, lon = compute_latlon(s.x, s.y)
        minute = speeds[k * per_record : (k + 1) * per_record]
        accel = (s.speed_kmh - first) / 3.6 / ((t - first_t) / 1000) if t > first_t else 0.0
        first, first_t = s.speed_kmh, t
        rec = Telemetry(
            t, lat, lon, round(sum(minute) / len(minute), 1), round(s.heading_deg, 1),
            round(accel, 2),
        )  # fmt: skip
        out.append((t, rec))
    return out


def compute_diagnostics(rng: random.Random, start_ms: int, end_ms: int) -> list[tuple[int, Record]]:
    """Return the car's diagnostic reads (about one car in twenty has a fault)."""
    faulty = rng.random() < 0.05
    code = TROUBLE_CODES[rng.randrange(len(TROUBLE_CODES))]
    offset = rng.randrange(DIAGNOSTICS_MS)
    return [
        (t, Diagnostics(t, [code] if faulty else [], faulty and code.startswith("P0")))
        for t in range(start_ms + offset, end_ms, DIAGNOSTICS_MS)
    ]


CamCache = dict[tuple[int, int], tuple[float, float, bytes]]
"""``(car, time) -> (lat, lon, CAM digest)``: both cars of a contact need both cars' CAMs."""


def compute_v2x_logs(
    index: int,
    heard: Sequence[tuple[int, int]],
    routes: Sequence[Route],
    pseudonyms: Sequence[Pseudonym],
    cams: CamCache | None = None,
) -> list[tuple[int, Record]]:
    """Return car ``index``'s log of the CAMs it heard (``(time, sender)``); ``cams``
    keeps each car's CAM at each time across calls (each is computed once)."""
    cams = {} if cams is None else cams
    out: list[tuple[int, Record]] = []
    for t, sender in heard:
        own = cams.get((index, t))
        if own is None:
            own = cams[(index, t)] = compute_cam(pseudonyms[index].hashed_id8, t, routes[index])
        peer = cams.get((sender, t))
        id8 = pseudonyms[sender].hashed_id8
        if peer is None:
            peer = cams[(sender, t)] = compute_cam(id8, t, routes[sender])
        out.append((t, V2xLog(t, "rx", id8.hex(), "CAM", peer[2], own[0], own[1])))
    return out
