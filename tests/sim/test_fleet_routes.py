"""A route's samples: speed and heading precomputed per segment equal walking the route."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from carchain.sim.routes import Route


def _reference_sample(route: Route, t_ms: int) -> tuple[float, float, float, float]:
    """Sample ``route`` the slow way: find the segment, walk back to the last move."""
    times, xs, ys = route.times, route.xs, route.ys
    i = max(k for k in range(-1, len(times)) if k < 0 or times[k] <= t_ms)

    def heading(j: int) -> float:
        for k in range(min(j, len(times) - 2), -1, -1):
            dx, dy = xs[k + 1] - xs[k], ys[k + 1] - ys[k]
            if dx or dy:
                return math.degrees(math.atan2(dx, dy)) % 360.0
        return 0.0

    if i < 0:
        return xs[0], ys[0], 0.0, heading(0)
    if i >= len(times) - 1:
        return xs[-1], ys[-1], 0.0, heading(len(times) - 2)
    t0, t1 = times[i], times[i + 1]
    f = (t_ms - t0) / (t1 - t0)
    dx, dy = xs[i + 1] - xs[i], ys[i + 1] - ys[i]
    speed = math.hypot(dx, dy) / (t1 - t0) * 3_600.0
    return xs[i] + f * dx, ys[i] + f * dy, speed, heading(i)


waypoints = st.lists(
    st.tuples(
        st.integers(0, 5_000), st.sampled_from([0.0, 100.0, 250.0]), st.sampled_from([0.0, 100.0])
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=200, deadline=None)
@given(waypoints, st.integers(-1_000, 70_000))
def test_samples_match_walking_the_route(points: list[tuple[int, float, float]], t_ms: int) -> None:
    """Stops (repeated places), zero-length legs (repeated times) and one-point routes."""
    times, t = [], 0
    for gap, _, _ in points:
        t += gap
        times.append(t)
    route = Route(tuple(times), tuple(p[1] for p in points), tuple(p[2] for p in points))
    s = route.sample_at(t_ms)
    assert (s.x, s.y, s.speed_kmh, s.heading_deg) == _reference_sample(route, t_ms)
    assert route.position_at(t_ms) == (s.x, s.y)


def test_route_equality_ignores_the_precomputed_motion() -> None:
    a = Route((0, 10), (0.0, 1.0), (0.0, 0.0))
    assert a == Route((0, 10), (0.0, 1.0), (0.0, 0.0))
    assert a != Route((0, 10), (0.0, 2.0), (0.0, 0.0))
