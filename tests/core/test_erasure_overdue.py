"""The end-of-block overdue step: an open request past its deadline becomes overdue,
is logged, and is listed and counted for its OEM; held requests are not overdue while
held and restart their clock when the last hold lifts."""

from __future__ import annotations

import pytest

from carchain.core import access_log, holds
from carchain.core import erasure as er
from carchain.core.deadlines import DAY_MS
from tests.core.erasure_world import (
    OTHER_OWNER,
    OTHER_VID,
    OWNER,
    VID,
    advance_to,
    complete_body,
    erasure_genesis,  # noqa: F401
    place_body,
    register,
    request_body,
)
from tests.core.memory import CoreChain, core_chain  # noqa: F401


@pytest.fixture(name="requested")
def requested_chain(chain: CoreChain) -> CoreChain:
    register(chain)
    register(chain, "geely:1")
    chain.send(OWNER, request_body())
    return chain


def deadline(chain: CoreChain, vid: str = VID, seq: int = 0) -> int:
    return er.get_erasure(chain.state, vid, seq).deadline_ms


def status(chain: CoreChain, vid: str = VID, seq: int = 0) -> str:
    return er.get_erasure(chain.state, vid, seq).status


def test_not_overdue_until_the_deadline_has_passed(requested: CoreChain) -> None:
    advance_to(requested, deadline(requested))
    requested.block()
    assert status(requested) == "open"
    assert er.get_overdue_count(requested.state, "saic") == 0
    requested.block()  # the next block's time is past the deadline
    assert status(requested) == "overdue"


def test_overdue_is_logged_listed_and_counted_per_oem(requested: CoreChain) -> None:
    advance_to(requested, deadline(requested) + DAY_MS)
    requested.block()
    e = er.get_erasure(requested.state, VID, 0)
    assert e.status == "overdue"
    assert er.get_overdue_count(requested.state, "saic") == 1
    assert er.get_overdue_erasures(requested.state, "saic") == [(0, e)]
    assert er.get_overdue_count(requested.state, "geely") == 0
    assert er.get_overdue_erasures(requested.state, "geely") == []
    event = access_log.get_access_log_page(requested.state, VID, limit=1)[0]
    assert (event.kind, event.actor, event.ref) == ("erasure_overdue", b"", 0)
    assert event.detail == f"deadline_ms={e.deadline_ms}"
    oem_event = access_log.get_oem_access_log_page(requested.state, "saic", limit=1)[0][1]
    assert oem_event == event


def test_overdue_then_completed_is_late_and_leaves_the_count(requested: CoreChain) -> None:
    advance_to(requested, deadline(requested) + 1)
    requested.block()
    requested.send("saic", complete_body())
    e = er.get_erasure(requested.state, VID, 0)
    assert (e.status, e.late) == ("complete", True)
    assert er.get_overdue_count(requested.state, "saic") == 0
    # The list keeps the history: the request fell overdue, completed late.
    assert er.get_overdue_erasures(requested.state, "saic") == [(0, e)]


def test_completed_in_time_never_falls_overdue(requested: CoreChain) -> None:
    requested.send("saic", complete_body())
    advance_to(requested, deadline(requested) + DAY_MS)
    requested.block()
    assert status(requested) == "complete"
    assert er.get_overdue_erasures(requested.state, "saic") == []


def test_requests_fall_overdue_in_order_one_queue_for_all_oems(requested: CoreChain) -> None:
    register(requested, OTHER_VID, OTHER_OWNER)
    requested.now_ms += DAY_MS
    requested.send(OTHER_OWNER, request_body(vid=OTHER_VID))
    requested.now_ms += DAY_MS
    requested.send(OWNER, request_body(vid="geely:1"))
    first, second, third = (
        deadline(requested),
        deadline(requested, OTHER_VID),
        deadline(requested, "geely:1"),
    )
    assert first <= second <= third
    advance_to(requested, second + 1)
    requested.block()
    assert [status(requested), status(requested, OTHER_VID), status(requested, "geely:1")] == [
        "overdue",
        "overdue",
        "open",
    ]
    assert er.get_overdue_count(requested.state, "saic") == 2
    assert [e.vehicle_id for _, e in er.get_overdue_erasures(requested.state, "saic")] == [
        OTHER_VID,
        VID,
    ]
    advance_to(requested, third + 1)
    requested.block()
    assert er.get_overdue_count(requested.state, "geely") == 1


def test_a_held_request_is_not_overdue_and_restarts_from_the_lift(requested: CoreChain) -> None:
    requested.send("court1", place_body())
    advance_to(requested, deadline(requested) + 5 * DAY_MS)
    requested.block()
    assert status(requested) == "held"
    assert er.get_overdue_count(requested.state, "saic") == 0
    requested.send("court1", holds.LiftHold(VID, 0))
    lifted_ms = requested.now_ms
    restarted = deadline(requested)
    assert status(requested) == "open" and restarted > lifted_ms
    advance_to(requested, restarted)
    requested.block()
    assert status(requested) == "open"  # the old deadline's queue entry was stale
    requested.block()
    assert status(requested) == "overdue"
    assert er.get_overdue_count(requested.state, "saic") == 1


def test_a_hold_over_an_overdue_request_stops_it_being_overdue(requested: CoreChain) -> None:
    advance_to(requested, deadline(requested) + 1)
    requested.block()
    assert er.get_overdue_count(requested.state, "saic") == 1
    requested.send("court1", place_body())
    assert status(requested) == "held"
    assert er.get_overdue_count(requested.state, "saic") == 0


def test_an_empty_block_writes_nothing(requested: CoreChain) -> None:
    before = requested.state.snapshot()
    requested.block()
    assert requested.state.snapshot() == before


def test_one_block_marks_at_most_the_cap_and_the_next_goes_on(
    requested: CoreChain, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(4):
        requested.send(OWNER, request_body())
    monkeypatch.setattr(er, "MAX_OVERDUE_PER_BLOCK", 3)
    advance_to(requested, deadline(requested, VID, 4) + 1)
    requested.block()
    assert [e.status for e in er.get_erasures(requested.state, VID)].count("overdue") == 3
    requested.block()
    assert [e.status for e in er.get_erasures(requested.state, VID)] == ["overdue"] * 5


def test_overdue_list_pages_newest_first(requested: CoreChain) -> None:
    for _ in range(4):
        requested.send(OWNER, request_body())
    advance_to(requested, deadline(requested, VID, 4) + 1)
    requested.block()
    page = er.get_overdue_erasures(requested.state, "saic", limit=2)
    assert [n for n, _ in page] == [4, 3]
    page = er.get_overdue_erasures(requested.state, "saic", before=3, limit=2)
    assert [n for n, _ in page] == [2, 1]


def test_a_request_reopened_before_its_old_deadline_waits_for_its_new_one(
    requested: CoreChain,
) -> None:
    old = deadline(requested)
    requested.send("court1", place_body())
    requested.now_ms += 2 * DAY_MS
    requested.send("court1", holds.LiftHold(VID, 0))
    new = deadline(requested)
    assert new > old
    advance_to(requested, old + 1)  # the old queue entry falls due: stale, skipped
    requested.block()
    assert status(requested) == "open"
    advance_to(requested, new + 1)
    requested.block()
    assert status(requested) == "overdue"
