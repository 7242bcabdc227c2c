"""The V2X exchange: CAMs heard between cars in range, tick by tick, and who heard the
crash cars.

Every car broadcasts CAMs; at each tick the radio (``radio.compute_pairs``) says who
is in range of whom, and range is symmetric, so both cars of a pair hear each
other. A car logs the first CAM it hears from each peer in each ``SLOT_MS`` slot
(its exchange log is a contact log, not every 10 Hz message). Ticks are
``BACKGROUND_TICK_MS`` apart over the hour and ``WINDOW_TICK_MS`` apart in the crash
window, which is aligned to slots: every car in range of a crash car during the
window has a log entry of it inside the window, and the crash car one of that car.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from carchain.sim.radio import compute_pairs
from carchain.sim.routes import Route

SLOT_MS = 60_000
BACKGROUND_TICK_MS = 10_000
WINDOW_TICK_MS = 1_000
WINDOW_BEFORE_MS = 30_000
WINDOW_AFTER_MS = 10_000


@dataclass(frozen=True, slots=True)
class Window:
    """The crash's time window ``[start_ms, end_ms)``, whole slots."""

    start_ms: int
    end_ms: int

    def contains(self, t_ms: int) -> bool:
        """Return whether ``t_ms`` is in the window."""
        return self.start_ms <= t_ms < self.end_ms


@dataclass
class Exchange:
    """What the radio did: each car's heard CAMs ``(time, sender index)`` and the
    cars in range of a crash car during the window."""

    heard: list[list[tuple[int, int]]]
    witnesses: set[int] = field(default_factory=set)
    ticks: int = 0
    contacts: int = 0


def compute_window(start_ms: int, crash_ms: int) -> Window:
    """Return the crash window: from ``WINDOW_BEFORE_MS`` before the crash to
    ``WINDOW_AFTER_MS`` after it, widened to whole slots of the drive."""
    first = (crash_ms - WINDOW_BEFORE_MS - start_ms) // SLOT_MS
    last = -(-(crash_ms + WINDOW_AFTER_MS - start_ms) // SLOT_MS)
    return Window(start_ms + first * SLOT_MS, start_ms + last * SLOT_MS)


def compute_ticks(start_ms: int, end_ms: int, window: Window) -> list[int]:
    """Return the radio's ticks: sparse over the drive, dense in the window."""
    ticks = set(range(start_ms, end_ms, BACKGROUND_TICK_MS))
    ticks.update(range(max(start_ms, window.start_ms), min(end_ms, window.end_ms), WINDOW_TICK_MS))
    return sorted(ticks)


def run_exchange(
    routes: Sequence[Route],
    ticks: Sequence[int],
    start_ms: int,
    window: Window,
    crash_cars: tuple[int, int],
    range_m: float,
    advance: Callable[[int], None] = lambda n: None,
) -> Exchange:
    """Run the radio over ``ticks``; return each car's heard CAMs and the crash's witnesses."""
    exchange = Exchange([[] for _ in routes])
    heard = exchange.heard
    seen: set[tuple[int, int, int]] = set()
    a, b = crash_cars
    for t in ticks:
        positions = [r.position_at(t) for r in routes]
        slot = (t - start_ms) // SLOT_MS
        pairs = compute_pairs(positions, range_m)
        if window.contains(t):
            _add_witnesses(pairs, a, b, exchange.witnesses)
        for i, j in pairs:
            key = (i, j, slot)
            if key not in seen:
                seen.add(key)
                heard[i].append((t, j))
                heard[j].append((t, i))
        exchange.ticks += 1
        advance(1)
    exchange.contacts = len(seen)
    return exchange


def _add_witnesses(pairs: list[tuple[int, int]], a: int, b: int, witnesses: set[int]) -> None:
    """Add every car paired with crash car ``a`` or ``b`` (but not the two themselves)."""
    for i, j in pairs:
        if i in (a, b) and j not in (a, b):
            witnesses.add(j)
        elif j in (a, b) and i not in (a, b):
            witnesses.add(i)
