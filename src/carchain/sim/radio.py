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
    """Return every pair ``(i, j)``, ``i < j``, of positions at most ``range_m`` apart.

    Cells hold ``(index, x, y)``, so the inner loops touch no other list, and the loops
    are inlined (a call per pair of cells cost as much as the comparisons). The pairs
    come cell by cell in the cells' first-seen order, so the same positions always give
    the same list in the same order.
    """
    cells = _compute_cells(positions, range_m)
    limit = range_m * range_m
    pairs: list[tuple[int, int]] = []
    add = pairs.append
    get = cells.get
    for (cx, cy), members in cells.items():
        if len(members) > 1:
            for a, (i, xi, yi) in enumerate(members):
                for j, xj, yj in members[a + 1 :]:
                    dx, dy = xi - xj, yi - yj
                    if dx * dx + dy * dy <= limit:
                        add((i, j))
        for ox, oy in _FORWARD_CELLS:
            other = get((cx + ox, cy + oy))
            if other is None:
                continue
            for i, xi, yi in members:
                for j, xj, yj in other:
                    dx, dy = xi - xj, yi - yj
                    if dx * dx + dy * dy <= limit:
                        add((i, j) if i < j else (j, i))
    return pairs


_Cell = list[tuple[int, float, float]]


def _compute_cells(
    positions: Sequence[tuple[float, float]], range_m: float
) -> dict[tuple[int, int], _Cell]:
    """Return the spatial hash: cell -> its cars ``(index, x, y)`` in ascending index."""
    # cells a hair wider than the range: two cars exactly ``range_m`` apart across a
    # cell border are then never two cells apart after rounding (hypothesis found it)
    inv = 1.0 / (range_m * (1 + 1e-9))
    floor = math.floor
    cells: dict[tuple[int, int], _Cell] = {}
    for i, (x, y) in enumerate(positions):
        key = (floor(x * inv), floor(y * inv))
        bucket = cells.get(key)
        if bucket is None:
            cells[key] = [(i, x, y)]
        else:
            bucket.append((i, x, y))
    return cells


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
