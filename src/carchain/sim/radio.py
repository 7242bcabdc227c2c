"""The radio: which cars are within V2X range of each other at one instant.

A spatial hash puts every car in a square cell as wide as the radio range; two
cars in range are then in the same or in adjacent cells, so each car is compared
only with the cars of its 3 x 3 block of cells: O(N) per tick at a given traffic
density, instead of the O(N^2) of comparing every pair. ``compute_pairs_brute`` is
the slow reference the tests compare it with.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

RADIO_RANGE_M = 120.0  # an urban CAM range (buildings shadow the 5.9 GHz band)

# half of the 3 x 3 block: each pair of cells is visited once
_FORWARD_CELLS = ((1, 0), (-1, 1), (0, 1), (1, 1))


def compute_pairs(
    positions: Sequence[tuple[float, float]], range_m: float
) -> list[tuple[int, int]]:
    """Return every pair ``(i, j)``, ``i < j``, of positions at most ``range_m`` apart."""
    # cells a hair wider than the range: two cars exactly ``range_m`` apart across a
    # cell border are then never two cells apart after rounding (hypothesis found it)
    inv = 1.0 / (range_m * (1 + 1e-9))
    cells: dict[tuple[int, int], list[int]] = {}
    for i, (x, y) in enumerate(positions):
        key = (math.floor(x * inv), math.floor(y * inv))
        bucket = cells.get(key)
        if bucket is None:
            cells[key] = [i]
        else:
            bucket.append(i)
    limit = range_m * range_m
    pairs: list[tuple[int, int]] = []
    get = cells.get
    for (cx, cy), members in cells.items():
        if len(members) > 1:
            _collect_within(positions, members, limit, pairs)
        for dx, dy in _FORWARD_CELLS:
            other = get((cx + dx, cy + dy))
            if other is not None:
                _collect_between(positions, members, other, limit, pairs)
    return pairs


def _collect_within(
    positions: Sequence[tuple[float, float]],
    members: list[int],
    limit: float,
    pairs: list[tuple[int, int]],
) -> None:
    """Append the pairs in range within one cell (members are in ascending order)."""
    for a, i in enumerate(members):
        xi, yi = positions[i]
        for j in members[a + 1 :]:
            xj, yj = positions[j]
            if (xi - xj) ** 2 + (yi - yj) ** 2 <= limit:
                pairs.append((i, j))


def _collect_between(
    positions: Sequence[tuple[float, float]],
    members: list[int],
    other: list[int],
    limit: float,
    pairs: list[tuple[int, int]],
) -> None:
    """Append the pairs in range between two different cells."""
    for i in members:
        xi, yi = positions[i]
        for j in other:
            xj, yj = positions[j]
            if (xi - xj) ** 2 + (yi - yj) ** 2 <= limit:
                pairs.append((i, j) if i < j else (j, i))


def compute_pairs_brute(
    positions: Sequence[tuple[float, float]], range_m: float
) -> list[tuple[int, int]]:
    """Return the same pairs as ``compute_pairs`` by comparing every pair (tests only)."""
    limit = range_m * range_m
    return [
        (i, j)
        for i in range(len(positions))
        for j in range(i + 1, len(positions))
        if (positions[i][0] - positions[j][0]) ** 2 + (positions[i][1] - positions[j][1]) ** 2
        <= limit
    ]
