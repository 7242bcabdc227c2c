"""The crash: a foreign-brand car and a car of another OEM collide at a junction.

``choose_crash`` picks (from the seed) a junction near the centre, the two cars and
their approach: the foreign car (A) drives along the junction's row and brakes hard
for the last 1.5 s; the other (B) comes along the column, ran the red light and
brakes only for 0.4 s. Each car's route is built backwards from the impact, so it
reaches the junction exactly at the crash time. Both EDRs then record the GB
39732-2020 elements: 5 s of pre-crash speed, brake, accelerator and engine speed at
2 Hz, and the longitudinal delta-V over 250 ms from a perfectly plastic,
perpendicular impact (momentum shared by mass along each car's own axis) with a
half-sine pulse of ``PULSE_MS``.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from carchain.data.records import EdrEvent
from carchain.sim.city import City, Junction
from carchain.sim.fleet import Car
from carchain.sim.routes import MAX_RED_MS, RED_LIGHT_P, Route, choose_step, compute_leg_ms

PULSE_MS = 110
PRE_CRASH_SAMPLES = 11  # -5 s .. 0 s at 2 Hz
DELTA_V_SAMPLES = 26  # 0 .. 250 ms at 10 ms


@dataclass(frozen=True, slots=True)
class Approach:
    """How one crash car reaches the junction: direction, speed, braking."""

    index: int  # the car's index in the fleet
    step: tuple[int, int]  # unit step of its last leg
    speed_kmh: float  # cruising speed before braking
    brake_s: float  # braking time before the impact
    decel_mps2: float

    @property
    def impact_kmh(self) -> float:
        """Return the speed at the impact."""
        return max(0.0, self.speed_kmh - self.decel_mps2 * self.brake_s * 3.6)

    @property
    def brake_distance_m(self) -> float:
        """Return the distance covered while braking."""
        v = self.speed_kmh / 3.6
        return v * self.brake_s - 0.5 * self.decel_mps2 * self.brake_s**2


@dataclass(frozen=True, slots=True)
class CrashPlan:
    """Where, when and between whom the crash happens."""

    junction: Junction
    time_ms: int
    a: Approach  # the foreign-brand car
    b: Approach


def choose_crash(rng: random.Random, city: City, cars: list[Car], time_ms: int) -> CrashPlan:
    """Return the crash: a junction near the centre, a foreign car and one of another OEM."""
    lo, hi = city.side // 3, max(city.side // 3 + 1, 2 * city.side // 3)
    junction = Junction(rng.randrange(lo, hi), rng.randrange(lo, hi))
    foreign = [c for c in cars if c.foreign]
    car_a = foreign[rng.randrange(len(foreign))]
    others = [c for c in cars if not c.foreign and c.oem != car_a.oem]
    car_b = others[rng.randrange(len(others))]
    a = Approach(
        car_a.index, (1, 0) if rng.random() < 0.5 else (-1, 0), round(rng.uniform(48, 60), 1),
        1.5, round(rng.uniform(6.0, 7.5), 2),
    )  # fmt: skip
    b = Approach(
        car_b.index, (0, 1) if rng.random() < 0.5 else (0, -1), round(rng.uniform(38, 50), 1),
        0.4, round(rng.uniform(3.0, 5.0), 2),
    )  # fmt: skip
    return CrashPlan(junction, time_ms, a, b)


def compute_crash_route(
    rng: random.Random, city: City, plan: CrashPlan, approach: Approach, start_ms: int
) -> Route:
    """Return the crash car's route: random legs from before ``start_ms`` that end, braking,
    at the junction at the crash time; after it the car stays there."""
    jx, jy = city.compute_xy(plan.junction)
    sx, sy = approach.step
    brake_ms = round(approach.brake_s * 1000)
    d_brake = approach.brake_distance_m
    t_brake = plan.time_ms - brake_ms
    t_prev = t_brake - compute_leg_ms(city.block_m - d_brake, approach.speed_kmh)
    at = Junction(plan.junction.col - sx, plan.junction.row - sy)
    points = [(plan.time_ms, jx, jy), (t_brake, jx - sx * d_brake, jy - sy * d_brake)]
    points.append((t_prev, *city.compute_xy(at)))
    came = (-sx, -sy)  # walking backwards: the step that led away from here, reversed
    t = t_prev
    while t > start_ms:
        if rng.random() < RED_LIGHT_P:
            t -= rng.randrange(3_000, MAX_RED_MS)
            points.append((t, *city.compute_xy(at)))
        step = choose_step(rng, city, at, came)
        at = Junction(at.col + step[0], at.row + step[1])
        t -= compute_leg_ms(city.block_m, rng.uniform(25.0, 55.0))
        points.append((t, *city.compute_xy(at)))
        came = step
    points.reverse()
    return Route(
        tuple(p[0] for p in points), tuple(p[1] for p in points), tuple(p[2] for p in points)
    )


def _pre_crash_speed(approach: Approach, t_s: float) -> float:
    """Return the speed ``t_s`` (<= 0) seconds before the impact."""
    if t_s <= -approach.brake_s:
        return approach.speed_kmh
    return approach.speed_kmh - approach.decel_mps2 * (t_s + approach.brake_s) * 3.6


def compute_edr(
    approach: Approach, car: Car, other_mass_kg: int, ignition: int, time_ms: int
) -> EdrEvent:
    """Return the car's EDR event (GB 39732-2020 elements) for the planned impact."""
    times = [-5.0 + 0.5 * k for k in range(PRE_CRASH_SAMPLES)]
    speeds = [round(_pre_crash_speed(approach, t), 1) for t in times]
    braking = [t > -approach.brake_s for t in times]
    throttle = [0.0 if t > -approach.brake_s - 0.5 else 22.0 for t in times]
    electric = car.model.name in ("MG4 EV", "ID.4", "Galaxy E8", "Zeekr 001")
    rpm = [round(v * (95 if electric else 38)) + (0 if electric else 750) for v in speeds]
    # the other car moves across this one's axis: it adds no longitudinal momentum
    share = other_mass_kg / (car.model.mass_kg + other_mass_kg)
    dv_max = -share * approach.impact_kmh
    dv = [
        round(dv_max * (1 - math.cos(math.pi * min(1.0, 10 * k / PULSE_MS))) / 2, 2)
        for k in range(DELTA_V_SAMPLES)
    ]
    return EdrEvent(
        event_time_ms=time_ms,
        pre_crash_speed_kmh=speeds,
        service_brake=braking,
        accelerator_pedal_pct=throttle,
        engine_rpm=rpm,
        driver_seatbelt_buckled=True,
        abs_status="active" if approach.decel_mps2 > 5.0 else "not_active",
        esc_status="on",
        delta_v_long_kmh=dv,
        max_delta_v_long_kmh=round(dv_max, 2),
        ignition_cycle_count=ignition,
    )
