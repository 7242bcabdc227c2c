"""Working-day deadlines in block time (GB/T 41871-2022: erasure within 10 working days).

Working days are Monday to Friday, UTC; public holidays are not counted out (a
chain has no agreed holiday calendar). A deadline is the same time of day N
working days after the start; a start that falls on a weekend counts from the
following Monday 00:00 UTC, which keeps deadlines monotonic in the start (an
erasure requested later never falls due earlier), the property the overdue
queue relies on.
"""

from __future__ import annotations

DAY_MS = 86_400_000
_SATURDAY = 5
# 1970-01-01, day 0 of Unix time, was a Thursday (Monday = 0).
_EPOCH_WEEKDAY = 3


def compute_weekday(day: int) -> int:
    """Return the weekday (Monday 0 .. Sunday 6) of Unix day ``day`` (UTC)."""
    return (day + _EPOCH_WEEKDAY) % 7


def is_working_day(time_ms: int) -> bool:
    """Return whether the UTC day that holds ``time_ms`` is a Monday to Friday."""
    return compute_weekday(time_ms // DAY_MS) < _SATURDAY


def compute_deadline_ms(start_ms: int, working_days: int) -> int:
    """Return the time ``working_days`` working days after ``start_ms`` (0 days: the start,
    moved to Monday 00:00 UTC if it falls on a weekend).

    Always ``>= start_ms``, always on a working day, and non-decreasing in ``start_ms``.
    """
    if working_days < 0:
        raise ValueError("working_days must not be negative")
    day, rest = divmod(start_ms, DAY_MS)
    weekday = compute_weekday(day)
    if weekday >= _SATURDAY:
        day, rest = day + 7 - weekday, 0
    weeks, extra = divmod(working_days, 5)
    day += 7 * weeks
    for _ in range(extra):
        day += 1
        while compute_weekday(day) >= _SATURDAY:
            day += 1
    return day * DAY_MS + rest
