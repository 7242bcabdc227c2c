"""The fleet world: a seeded, deterministic simulation of a city's cars for an hour.

``simulate_fleet`` builds, from ``FleetParams`` alone, the city, the fleet with its
owners' consent choices, every car's route, the OEMs' pseudonym CAs and the cars'
pseudonyms, the V2X exchange, the crash and every record each car makes. Nothing
here touches the chain: ``fleet_plane`` uploads the records through the gateways.
Same parameters, same seed: same tracks, same crash, same witnesses, same records
(the car-to-car transfers excepted, whose salts and ECDSA signatures are random).

``CrashTruth`` is the simulator's ground truth for tests and the demo's picture:
an investigation must find the witnesses from the chain and the logs, not from it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from carchain.data.records import Record
from carchain.errors import InvalidSimParameters
from carchain.sim import car_records as cr
from carchain.sim.city import City, Junction, compute_city, compute_latlon
from carchain.sim.crash import CrashPlan, choose_crash, compute_crash_route, compute_edr
from carchain.sim.fleet import Car, compute_fleet
from carchain.sim.phases import Phases
from carchain.sim.pseudonyms import (
    Pseudonym,
    PseudonymCa,
    PseudonymDirectory,
    compute_cas,
    compute_pseudonyms,
)
from carchain.sim.radio import RADIO_RANGE_M
from carchain.sim.radio_log import (
    SLOT_MS,
    Exchange,
    Window,
    compute_ticks,
    compute_window,
    run_exchange,
)
from carchain.sim.routes import Route, compute_route
from carchain.sim.transfers import compute_crash_transfers

MAX_VEHICLES = 100_000
MAX_MINUTES = 24 * 60
MIN_MINUTES = 5


BATCH_WINDOW_MS = 5 * SLOT_MS


@dataclass(frozen=True, slots=True)
class FleetParams:
    """What to simulate: fleet size, length, seed, when the drive starts and the crash."""

    vehicles: int = 1000
    minutes: int = 60
    seed: int = 13
    start_ms: int = 1_780_000_000_000
    crash_minute: int | None = None  # default: two thirds into the drive
    radio_range_m: float = RADIO_RANGE_M
    # A car's batch holds one whole window of the drive (it uploads every 5 minutes): a
    # case's window is widened to whole batch windows, so it covers whole batches (a
    # batch straddling a case's edge would be served to no case).
    batch_window_ms: int = BATCH_WINDOW_MS

    @property
    def end_ms(self) -> int:
        """Return when the drive ends."""
        return self.start_ms + self.minutes * 60_000


def validate_params(p: FleetParams) -> None:
    """Raise ``InvalidSimParameters`` (naming the parameter) if ``p`` cannot be simulated."""
    checks: list[tuple[str, int, int, int]] = [
        ("vehicles", p.vehicles, 2, MAX_VEHICLES),
        ("minutes", p.minutes, MIN_MINUTES, MAX_MINUTES),
        ("start_ms", p.start_ms, 0, 2**62),
        ("radio_range_m", round(p.radio_range_m), 10, 1_000),
        ("batch_window_ms", p.batch_window_ms, 1_000, 3_600_000),
    ]
    if p.crash_minute is not None:
        checks.append(("crash_minute", p.crash_minute, 2, p.minutes - 1))
    for name, value, lo, hi in checks:
        if not lo <= value <= hi:
            raise InvalidSimParameters(
                f"{name} must be between {lo} and {hi}, not {value}",
                param=name, value=value, minimum=lo, maximum=hi,
            )  # fmt: skip


@dataclass(frozen=True, slots=True)
class CrashTruth:
    """The simulator's ground truth of the crash (for tests and the picture only)."""

    junction: Junction
    lat: float
    lon: float
    time_ms: int
    vehicles: tuple[str, str]  # the foreign-brand car first
    oems: tuple[str, str]
    window: Window
    witnesses: frozenset[str]


@dataclass
class FleetWorld:
    """Everything the simulation produced, in fleet order."""

    params: FleetParams
    city: City
    cars: list[Car]
    routes: list[Route]
    cas: dict[str, PseudonymCa]
    pseudonyms: list[Pseudonym]
    directory: PseudonymDirectory
    exchange: Exchange
    plan: CrashPlan
    records: list[list[tuple[int, Record]]]
    truth: CrashTruth

    @property
    def record_count(self) -> int:
        """Return how many records the fleet made."""
        return sum(len(r) for r in self.records)


def _compute_routes(
    rng: random.Random, city: City, p: FleetParams, plan: CrashPlan, phases: Phases
) -> list[Route]:
    with phases.phase("routes", p.vehicles) as advance:
        routes = []
        for i in range(p.vehicles):
            car_rng = random.Random(rng.getrandbits(64))
            if i in (plan.a.index, plan.b.index):
                approach = plan.a if i == plan.a.index else plan.b
                routes.append(compute_crash_route(car_rng, city, plan, approach, p.start_ms))
            else:
                routes.append(compute_route(car_rng, city, p.start_ms, p.end_ms))
            advance(1)
    return routes


def simulate_fleet(p: FleetParams, phases: Phases | None = None) -> FleetWorld:
    """Return the simulated world of ``p`` (``InvalidSimParameters`` if ``p`` is bad)."""
    validate_params(p)
    phases = phases or Phases()
    rng = random.Random(p.seed)
    city = compute_city(p.vehicles)
    cars = compute_fleet(rng, p.vehicles)
    crash_minute = p.crash_minute if p.crash_minute is not None else 2 * p.minutes // 3
    crash_ms = p.start_ms + crash_minute * 60_000 + rng.randrange(1_000, 59_000)
    plan = choose_crash(rng, city, cars, crash_ms)
    routes = _compute_routes(rng, city, p, plan, phases)
    start_s = p.start_ms // 1000
    with phases.phase("pseudonym certificates", p.vehicles) as advance:
        cas = compute_cas(p.seed, start_s)
        pseudonyms, directory = compute_pseudonyms(p.seed, cars, cas, start_s, advance)
    window = compute_window(p.start_ms, crash_ms)
    ticks = compute_ticks(p.start_ms, p.end_ms, window)
    with phases.phase("V2X radio", len(ticks)) as advance:
        exchange = run_exchange(
            routes, ticks, p.start_ms, window, (plan.a.index, plan.b.index), p.radio_range_m,
            advance,
        )  # fmt: skip
    with phases.phase("records", p.vehicles) as advance:
        records = _compute_records(rng, p, cars, routes, pseudonyms, exchange, plan, advance)
    truth = _compute_truth(city, cars, plan, window, exchange)
    world = FleetWorld(
        p, city, cars, routes, cas, pseudonyms, directory, exchange, plan, records, truth
    )
    return world


def _compute_records(
    rng: random.Random,
    p: FleetParams,
    cars: list[Car],
    routes: list[Route],
    pseudonyms: list[Pseudonym],
    exchange: Exchange,
    plan: CrashPlan,
    advance: cr.Advance,
) -> list[list[tuple[int, Record]]]:
    """Return each car's records in time order (the crash cars' EDR events included)."""
    out = []
    cams: cr.CamCache = {}
    for i in range(len(cars)):
        car_rng = random.Random(rng.getrandbits(64))
        recs = cr.compute_telemetry(routes[i], p.start_ms, p.end_ms)
        recs += cr.compute_diagnostics(car_rng, p.start_ms, p.end_ms)
        recs += cr.compute_v2x_logs(i, exchange.heard[i], routes, pseudonyms, cams)
        out.append(recs)
        advance(1)
    for own, other in ((plan.a, plan.b), (plan.b, plan.a)):
        edr = compute_edr(
            own, cars[own.index], cars[other.index].model.mass_kg,
            rng.randrange(400, 3_000), plan.time_ms,
        )  # fmt: skip
        out[own.index].append((plan.time_ms, edr))
    for index, t, record in compute_crash_transfers(plan, pseudonyms, routes, exchange):
        out[index].append((t, record))
    for recs in out:
        recs.sort(key=lambda item: item[0])
    return out


def _compute_truth(
    city: City, cars: list[Car], plan: CrashPlan, window: Window, exchange: Exchange
) -> CrashTruth:
    lat, lon = compute_latlon(*city.compute_xy(plan.junction))
    a, b = cars[plan.a.index], cars[plan.b.index]
    return CrashTruth(
        plan.junction, lat, lon, plan.time_ms, (a.vehicle_id, b.vehicle_id), (a.oem, b.oem),
        window, frozenset(cars[i].vehicle_id for i in exchange.witnesses),
    )  # fmt: skip
