"""The reconstruction of the crash from the officer's decrypted records only.

``compute_vehicle_records`` merges a case's decrypted category segments back into the
records they came from (per batch, per record index: ``merge_projections``), each with
the fields of the categories in scope only. From them: per crash car its track in the
window (telemetry: time, position, speed), its position fixes (the V2X logs' receiver
positions), the EDR's pre-crash speed and brake series and its delta-V; per witness
its position nearest the crash time. Plain data, for the picture and the report.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from carchain.data.projections import Projection, merge_projections
from carchain.data.records import EdrEvent, Record, Telemetry, V2xLog
from carchain.sdk.officer import CaseSegment

EDR_STEP_MS = 500  # GB 39732 pre-crash series: 2 Hz
EDR_FIRST_MS = -5_000
Fix = tuple[int, float, float]  # time, lat, lon
TrackPoint = tuple[int, float, float, float]  # time, lat, lon, speed km/h


def get_record_time(record: Record) -> int | None:
    """Return a record's time (``None`` if its time was not decrypted)."""
    if isinstance(record, EdrEvent):
        return record.event_time_ms
    return record.time_ms


def compute_vehicle_records(segments: Iterable[CaseSegment]) -> dict[str, list[Record]]:
    """Return each vehicle's decrypted records (merged from their category projections),
    in time order."""
    parts: dict[tuple[str, bytes, int], list[Projection]] = {}
    for s in segments:
        for p in s.segment.projections:
            parts.setdefault((s.vehicle_id, s.segment.header_hash, p.index), []).append(p)
    out: dict[str, list[Record]] = {}
    for (vehicle_id, _, _), projections in sorted(parts.items()):
        out.setdefault(vehicle_id, []).append(merge_projections(projections))
    for records in out.values():
        records.sort(key=lambda r: get_record_time(r) or 0)
    return out


def count_outside(records: Iterable[Record], start_ms: int, end_ms: int) -> int:
    """Return how many records lie outside ``[start_ms, end_ms)`` (or have no time)."""
    times = (get_record_time(r) for r in records)
    return sum(1 for t in times if t is None or not start_ms <= t < end_ms)


@dataclass
class CrashCarReconstruction:
    """What the decrypted records say of one crash car."""

    vehicle_id: str
    track: list[TrackPoint] = field(default_factory=list)
    fixes: list[Fix] = field(default_factory=list)
    pre_crash_speed: list[tuple[int, float]] = field(default_factory=list)  # ms before impact
    braking: list[tuple[int, bool]] = field(default_factory=list)
    brake_onset_ms: int | None = None  # first braking sample, ms before the impact
    delta_v: list[float] = field(default_factory=list)
    max_delta_v_kmh: float | None = None
    impact_speed_kmh: float | None = None
    event_time_ms: int | None = None
    edr: EdrEvent | None = None
    telemetry: list[Telemetry] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class WitnessPosition:
    """Where a witness was nearest the crash time (``dt_ms`` from it)."""

    vehicle_id: str
    t_ms: int
    lat: float
    lon: float
    dt_ms: int


def compute_fixes(records: Iterable[Record]) -> list[Fix]:
    """Return every decrypted position with its time (telemetry and V2X logs)."""
    out: list[Fix] = []
    for r in records:
        if isinstance(r, Telemetry | V2xLog):
            t, lat, lon = r.time_ms, r.lat, r.lon
            if t is not None and lat is not None and lon is not None:
                out.append((t, lat, lon))
    return sorted(out)


def apply_edr(rec: CrashCarReconstruction, edr: EdrEvent) -> None:
    """Fill the EDR's series into ``rec``."""
    rec.edr, rec.event_time_ms = edr, edr.event_time_ms
    speeds = edr.pre_crash_speed_kmh or []
    rec.pre_crash_speed = [(EDR_FIRST_MS + EDR_STEP_MS * k, v) for k, v in enumerate(speeds)]
    brakes = edr.service_brake or []
    rec.braking = [(EDR_FIRST_MS + EDR_STEP_MS * k, b) for k, b in enumerate(brakes)]
    rec.brake_onset_ms = next((t for t, b in rec.braking if b), None)
    rec.delta_v = list(edr.delta_v_long_kmh or [])
    rec.max_delta_v_kmh = edr.max_delta_v_long_kmh
    rec.impact_speed_kmh = speeds[-1] if speeds else None


def reconstruct_crash_car(vehicle_id: str, records: list[Record]) -> CrashCarReconstruction:
    """Return the crash car's reconstruction from its decrypted records."""
    rec = CrashCarReconstruction(vehicle_id)
    for r in records:
        if isinstance(r, EdrEvent):
            apply_edr(rec, r)
        elif isinstance(r, Telemetry):
            rec.telemetry.append(r)
            t, lat, lon, v = r.time_ms, r.lat, r.lon, r.speed_kmh
            if t is not None and lat is not None and lon is not None and v is not None:
                rec.track.append((t, lat, lon, v))
    rec.fixes = compute_fixes(records)
    return rec


def locate_witness(vehicle_id: str, records: list[Record], crash_ms: int) -> WitnessPosition:
    """Return the witness's decrypted position nearest the crash time; ``ValueError`` if
    none of its records has one."""
    fixes = compute_fixes(records)
    if not fixes:
        raise ValueError(f"no decrypted position of {vehicle_id}")
    t, lat, lon = min(fixes, key=lambda f: (abs(f[0] - crash_ms), f[0]))
    return WitnessPosition(vehicle_id, t, lat, lon, t - crash_ms)
