"""The simulated city: a Manhattan road grid of junctions around central Shanghai.

Positions are kept in metres on a local plane (x east, y north, origin at the
south-west junction) and converted to WGS-84 degrees only when a record is
written. The grid's side grows with the square root of the fleet, so traffic
density (and therefore the number of V2X contacts per car) stays about the same
whatever ``--vehicles`` is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

ORIGIN_LAT = 31.200
ORIGIN_LON = 121.420
METRES_PER_DEGREE_LAT = 111_320.0
BLOCK_M = 200.0  # distance between two junctions
CARS_PER_JUNCTION = 1.0  # the density the grid's side is chosen for
MIN_SIDE = 5

# unit steps of the four directions, and their compass headings
DIRECTIONS: dict[str, tuple[int, int]] = {"N": (0, 1), "E": (1, 0), "S": (0, -1), "W": (-1, 0)}
_METRES_PER_DEGREE_LON = METRES_PER_DEGREE_LAT * math.cos(math.radians(ORIGIN_LAT))
HEADINGS: dict[tuple[int, int], float] = {(0, 1): 0.0, (1, 0): 90.0, (0, -1): 180.0, (-1, 0): 270.0}


@dataclass(frozen=True, slots=True)
class Junction:
    """A junction of the grid, by column and row."""

    col: int
    row: int

    @property
    def name(self) -> str:
        """Return a human name such as ``J07-12``."""
        return f"J{self.col:02d}-{self.row:02d}"


@dataclass(frozen=True, slots=True)
class City:
    """A square road grid of ``side`` x ``side`` junctions ``block_m`` apart."""

    side: int
    block_m: float = BLOCK_M

    @property
    def extent_m(self) -> float:
        """Return the length of one side of the grid in metres."""
        return (self.side - 1) * self.block_m

    def contains(self, col: int, row: int) -> bool:
        """Return whether ``(col, row)`` is a junction of the grid."""
        return 0 <= col < self.side and 0 <= row < self.side

    def compute_xy(self, junction: Junction) -> tuple[float, float]:
        """Return the junction's position in metres."""
        return junction.col * self.block_m, junction.row * self.block_m

    def get_exits(self, junction: Junction) -> list[tuple[int, int]]:
        """Return the unit steps that lead from ``junction`` to another junction (N, E, S, W)."""
        return [
            step
            for step in DIRECTIONS.values()
            if self.contains(junction.col + step[0], junction.row + step[1])
        ]


def compute_city(vehicles: int) -> City:
    """Return the city sized for ``vehicles`` cars (about ``CARS_PER_JUNCTION`` per junction)."""
    side = max(MIN_SIDE, round(math.sqrt(vehicles / CARS_PER_JUNCTION)))
    return City(side)


def compute_latlon(x_m: float, y_m: float) -> tuple[float, float]:
    """Return the WGS-84 degrees of a point of the local plane (equirectangular, exact
    enough over a few kilometres)."""
    lat = ORIGIN_LAT + y_m / METRES_PER_DEGREE_LAT
    lon = ORIGIN_LON + x_m / _METRES_PER_DEGREE_LON
    return round(lat, 7), round(lon, 7)
