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
from dataclasses import dataclass

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
    """Timed waypoints; segment ``i`` runs from waypoint ``i`` to ``i + 1``."""

    times: tuple[int, ...]
    xs: tuple[float, ...]
    ys: tuple[float, ...]

    def sample_at(self, t_ms: int) -> Sample:
        """Return the car's position, speed and heading at ``t_ms``."""
        i = bisect.bisect_right(self.times, t_ms) - 1
        if i < 0:
            return Sample(self.xs[0], self.ys[0], 0.0, self._heading(0))
        if i >= len(self.times) - 1:
            return Sample(self.xs[-1], self.ys[-1], 0.0, self._heading(len(self.times) - 2))
        t0, t1 = self.times[i], self.times[i + 1]
        f = (t_ms - t0) / (t1 - t0)
        dx, dy = self.xs[i + 1] - self.xs[i], self.ys[i + 1] - self.ys[i]
        speed = math.hypot(dx, dy) / (t1 - t0) * 3_600.0  # m/ms -> km/h
        return Sample(self.xs[i] + f * dx, self.ys[i] + f * dy, speed, self._heading(i))

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

    def _heading(self, i: int) -> float:
        """Return the heading of the last moving segment at or before ``i``."""
        for k in range(min(i, len(self.times) - 2), -1, -1):
            dx, dy = self.xs[k + 1] - self.xs[k], self.ys[k + 1] - self.ys[k]
            if dx or dy:
                return math.degrees(math.atan2(dx, dy)) % 360.0
        return 0.0


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
