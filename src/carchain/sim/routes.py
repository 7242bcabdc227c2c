"""Routes: each car's track through the grid as timed waypoints.

A route is a list of waypoints ``(t_ms, x, y)``; between two waypoints the car
moves in a straight line at constant speed, before the first it is parked at the
first, after the last at the last. A car drives from junction to junction at an
urban speed, turns at random (never back the way it came unless the road ends),
and now and then waits at a red light. Positions are therefore exact functions of
time: a tick never accumulates rounding, and the same seed gives the same track.
"""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass, field

from carchain.sim.city import HEADINGS, City, Junction

MIN_SPEED_KMH = 22.0
MAX_SPEED_KMH = 58.0
RED_LIGHT_P = 0.35
MAX_RED_MS = 25_000


@dataclass(frozen=True, slots=True)
class Sample:
    """Where a car is and how it moves at one instant."""

    x: float
    y: float
    speed_kmh: float
    heading_deg: float


@dataclass(frozen=True, slots=True)
class Route:
    """Timed waypoints; segment ``i`` runs from waypoint ``i`` to ``i + 1``.

    Each segment's speed and heading are worked out once, when the route is made:
    a car is sampled some 700 times an hour (radio, telemetry, CAMs), and walking
    back to the last moving segment on every sample cost more than the rest.
    """

    times: tuple[int, ...]
    xs: tuple[float, ...]
    ys: tuple[float, ...]
    _speeds: tuple[float, ...] = field(init=False, repr=False, compare=False)
    _headings: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        speeds, headings = compute_segment_motion(self.times, self.xs, self.ys)
        object.__setattr__(self, "_speeds", speeds)
        object.__setattr__(self, "_headings", headings)

    def sample_at(self, t_ms: int) -> Sample:
        """Return the car's position, speed and heading at ``t_ms``."""
        times = self.times
        i = bisect.bisect_right(times, t_ms) - 1
        if i < 0:
            return Sample(self.xs[0], self.ys[0], 0.0, self._headings[0])
        if i >= len(times) - 1:
            return Sample(self.xs[-1], self.ys[-1], 0.0, self._headings[-1])
        t0 = times[i]
        f = (t_ms - t0) / (times[i + 1] - t0)
        x0, y0 = self.xs[i], self.ys[i]
        x = x0 + f * (self.xs[i + 1] - x0)
        y = y0 + f * (self.ys[i + 1] - y0)
        return Sample(x, y, self._speeds[i], self._headings[i])

    def position_at(self, t_ms: int) -> tuple[float, float]:
        """Return only the position at ``t_ms`` (the radio's hot path)."""
        i = bisect.bisect_right(self.times, t_ms) - 1
        if i < 0:
            return self.xs[0], self.ys[0]
        if i >= len(self.times) - 1:
            return self.xs[-1], self.ys[-1]
        f = (t_ms - self.times[i]) / (self.times[i + 1] - self.times[i])
        return (
            self.xs[i] + f * (self.xs[i + 1] - self.xs[i]),
            self.ys[i] + f * (self.ys[i + 1] - self.ys[i]),
        )


def compute_segment_motion(
    times: tuple[int, ...], xs: tuple[float, ...], ys: tuple[float, ...]
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Return each segment's speed (km/h) and heading: the heading of the last moving
    segment at or before it (0 before the first), so a car stopped at a light keeps
    facing the way it came."""
    speeds: list[float] = []
    headings: list[float] = []
    heading = 0.0
    for k in range(max(1, len(times) - 1)):
        if k + 1 >= len(times):
            speeds.append(0.0)
            headings.append(heading)
            break
        dx, dy = xs[k + 1] - xs[k], ys[k + 1] - ys[k]
        if dx or dy:
            heading = math.degrees(math.atan2(dx, dy)) % 360.0
        dt = times[k + 1] - times[k]  # 0: a segment no time falls in (never sampled)
        speeds.append(math.hypot(dx, dy) / dt * 3_600.0 if dt else 0.0)  # m/ms -> km/h
        headings.append(heading)
    return tuple(speeds), tuple(headings)


def compute_leg_ms(distance_m: float, speed_kmh: float) -> int:
    """Return how long ``distance_m`` takes at ``speed_kmh``, in whole milliseconds."""
    return max(1, round(distance_m / (speed_kmh / 3.6) * 1000))


def choose_step(
    rng: random.Random, city: City, at: Junction, came: tuple[int, int] | None
) -> tuple[int, int]:
    """Return the next unit step: any exit but the way back, unless it is the only one."""
    exits = city.get_exits(at)
    back = (-came[0], -came[1]) if came else None
    forward = [s for s in exits if s != back] or exits
    return forward[rng.randrange(len(forward))]


def compute_route(rng: random.Random, city: City, start_ms: int, end_ms: int) -> Route:
    """Return a random drive from a random junction between ``start_ms`` and ``end_ms``."""
    at = Junction(rng.randrange(city.side), rng.randrange(city.side))
    t = start_ms + rng.randrange(60_000)  # leaves within the first minute
    x, y = city.compute_xy(at)
    times, xs, ys = [start_ms, t], [x, x], [y, y]
    came: tuple[int, int] | None = None
    while t < end_ms:
        step = choose_step(rng, city, at, came)
        at = Junction(at.col + step[0], at.row + step[1])
        t += compute_leg_ms(city.block_m, rng.uniform(MIN_SPEED_KMH, MAX_SPEED_KMH))
        x, y = city.compute_xy(at)
        times.append(t)
        xs.append(x)
        ys.append(y)
        came = step
        if rng.random() < RED_LIGHT_P:
            t += rng.randrange(3_000, MAX_RED_MS)
            times.append(t)
            xs.append(x)
            ys.append(y)
    return Route(tuple(times), tuple(xs), tuple(ys))


def compute_heading(step: tuple[int, int]) -> float:
    """Return the compass heading of a unit step."""
    return HEADINGS[step]
