"""compute_deadline_ms: N working days (Mon-Fri UTC) after a block time."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carchain.core.deadlines import DAY_MS, compute_deadline_ms, compute_weekday, is_working_day

TIMES = st.integers(min_value=0, max_value=4_102_444_800_000)  # 1970 .. 2100
DAYS = st.integers(min_value=0, max_value=400)


def _utc(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC)


def _ms(*args: int) -> int:
    return int(dt.datetime(*args, tzinfo=dt.UTC).timestamp() * 1000)


def test_weekday_matches_the_calendar() -> None:
    for day in (0, 1, 4, 19_675, 20_000, -1):
        assert compute_weekday(day) == _utc(day * DAY_MS).weekday()


@pytest.mark.parametrize(
    ("start", "days", "want"),
    [
        ((2026, 12, 1, 9), 10, (2026, 12, 15, 9)),  # Tuesday: two weeks later
        ((2026, 12, 4, 17), 1, (2026, 12, 7, 17)),  # Friday -> Monday
        ((2026, 12, 5, 12), 1, (2026, 12, 8, 0)),  # Saturday counts from Monday 00:00
        ((2026, 12, 6, 23), 0, (2026, 12, 7, 0)),  # Sunday, 0 days: Monday 00:00
        ((2026, 12, 2, 8), 3, (2026, 12, 7, 8)),  # Wednesday + 3 -> Monday
        ((2026, 12, 1, 9), 0, (2026, 12, 1, 9)),
    ],
)
def test_deadline_examples(start: tuple[int, ...], days: int, want: tuple[int, ...]) -> None:
    assert compute_deadline_ms(_ms(*start), days) == _ms(*want)


def test_invalid_negative_working_days() -> None:
    with pytest.raises(ValueError, match="negative"):
        compute_deadline_ms(0, -1)


@given(TIMES, DAYS)
def test_deadline_is_never_before_the_start(start: int, days: int) -> None:
    assert compute_deadline_ms(start, days) >= start


@given(TIMES, st.integers(min_value=1, max_value=400))
def test_deadline_is_on_a_working_day_and_skips_weekends(start: int, days: int) -> None:
    deadline = compute_deadline_ms(start, days)
    assert is_working_day(deadline)
    # Exactly ``days`` working days lie after the start's day up to the deadline's day.
    first = start // DAY_MS
    if not is_working_day(start):
        first = compute_deadline_ms(start, 0) // DAY_MS
    span = range(first + 1, deadline // DAY_MS + 1)
    assert sum(1 for d in span if compute_weekday(d) < 5) == days


@given(TIMES, TIMES, DAYS)
def test_deadline_is_monotonic_in_the_start(a: int, b: int, days: int) -> None:
    lo, hi = min(a, b), max(a, b)
    assert compute_deadline_ms(lo, days) <= compute_deadline_ms(hi, days)


@given(TIMES, DAYS)
def test_deadline_is_monotonic_in_the_days(start: int, days: int) -> None:
    assert compute_deadline_ms(start, days) < compute_deadline_ms(start, days + 1)
