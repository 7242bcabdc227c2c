"""The simulated trip: what ``car drive`` records, and when."""

from __future__ import annotations

import pytest

from carchain.data.batches import compute_epoch
from carchain.data.records import Diagnostics, EdrEvent, Telemetry, V2xLog
from carchain.sim.car_trip import MINUTE_MS, generate_trip, plan_trip
from tests.dataplane import NOW_MS


@pytest.mark.parametrize(("edr", "v2x"), [(False, False), (True, False), (False, True)])
def test_trip_records_what_was_asked(edr: bool, v2x: bool) -> None:
    plan = plan_trip(NOW_MS, 10, edr=edr, v2x=v2x, seed=3)
    records = list(generate_trip(plan))
    times = [t for t, _ in records]
    assert times == sorted(times) and plan.start_ms <= times[0] and times[-1] < NOW_MS
    kinds = [type(r) for _, r in records]
    assert kinds.count(Telemetry) == 10 * 12 and kinds.count(Diagnostics) == 10
    assert kinds.count(EdrEvent) == int(edr)
    logs = [r for _, r in records if isinstance(r, V2xLog)]
    assert len(logs) == (2 * 10 * 6 if v2x else 0)
    assert all(r.message_hash is not None and len(r.message_hash) == 32 for r in logs)
    assert {r.direction for r in logs} == ({"tx", "rx"} if v2x else set())


def test_trip_near_midnight_stays_in_one_day() -> None:
    just_after = (compute_epoch(NOW_MS) + 1) * 86_400_000 + 5 * MINUTE_MS
    plan = plan_trip(just_after, 30, edr=False, v2x=False, seed=0)
    days = {compute_epoch(t) for t, _ in generate_trip(plan)}
    assert len(days) == 1


@pytest.mark.parametrize("minutes", [0, -1, 24 * 60 + 1])
def test_invalid_trip_length(minutes: int) -> None:
    with pytest.raises(ValueError):
        plan_trip(NOW_MS, minutes, edr=False, v2x=False, seed=0)
