"""The radio's spatial hash finds exactly the pairs a brute-force comparison finds."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from carchain.sim.radio import compute_pairs, compute_pairs_brute

coordinate = st.floats(min_value=-2_000, max_value=2_000, allow_nan=False)
positions = st.lists(st.tuples(coordinate, coordinate), max_size=60)


@settings(max_examples=150, deadline=None)
@given(positions, st.floats(min_value=1.0, max_value=800.0))
def test_pairs_match_brute_force(points: list[tuple[float, float]], range_m: float) -> None:
    assert sorted(compute_pairs(points, range_m)) == compute_pairs_brute(points, range_m)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), max_size=40))
def test_pairs_on_cell_borders(cells: list[tuple[int, int]]) -> None:
    """Cars exactly on cell borders, exactly the range apart, or at one place."""
    points = [(x * 100.0, y * 100.0) for x, y in cells]
    assert sorted(compute_pairs(points, 100.0)) == compute_pairs_brute(points, 100.0)


def test_each_pair_once_and_ordered() -> None:
    points = [(0.0, 0.0), (50.0, 0.0), (50.0, 0.0), (500.0, 500.0)]
    assert sorted(compute_pairs(points, 60.0)) == [(0, 1), (0, 2), (1, 2)]
