"""An authorised case's sealed legal holds: they block erasure of the scope, say nothing
in the owner's log before notice, cannot be lifted by ``legal_hold.lift``, and
``case.close`` lifts them (held erasures reopen)."""

from __future__ import annotations

import hashlib

import pytest

from carchain.core import access_log, case_holds, holds
from carchain.core import erasure as er
from carchain.core.case_records import DAY_MS, CloseCase, RejectCase
from tests.core.lawful_world import (
    EPOCH_MS,
    authorize_body,
    authorized_case,
    genesis,  # noqa: F401
    open_case,
    scope,
    setup_world,
)
from tests.core.memory import CoreChain, core_chain  # noqa: F401

WINDOW = (EPOCH_MS + DAY_MS, EPOCH_MS + 2 * DAY_MS)  # inside the case's 3 days


@pytest.fixture
def world(chain: CoreChain) -> CoreChain:
    return setup_world(chain)


def erasure_body(
    vid: str = "saic:1", categories: tuple[str, ...] = ("location",)
) -> er.RequestErasure:
    return er.RequestErasure(vid, list(categories), *WINDOW)


def complete_body(vid: str = "saic:1", seq: int = 0) -> er.CompleteErasure:
    refs = [hashlib.sha256(b"ref-%d" % seq).digest()]
    return er.CompleteErasure(vid, seq, refs, hashlib.sha256(b"tomb").digest())


def log_kinds(chain: CoreChain, vid: str = "saic:1") -> list[str]:
    size = access_log.get_log_size(chain.state, vid)
    events = (access_log.get_event_optional(chain.state, vid, n) for n in range(size))
    return [e.kind for e in events if e is not None]


def test_authorisation_places_one_sealed_hold_per_vehicle(world: CoreChain) -> None:
    before = {v: log_kinds(world, v) for v in ("saic:1", "saic:2")}
    result_case = authorized_case(world)
    for vid in ("saic:1", "saic:2"):
        seq = case_holds.get_case_hold_seq_optional(world.state, result_case, vid)
        assert seq is not None
        hold = holds.get_hold(world.state, vid, seq)
        assert hold.case_id == result_case and hold.court == "court2"
        assert hold.categories == ["crash_pulse", "location"]
        assert (hold.data_from_ms, hold.data_until_ms) == (EPOCH_MS, EPOCH_MS + 3 * DAY_MS - 1)
        assert log_kinds(world, vid) == before[vid]  # nothing in the owner's log
    assert case_holds.get_case_hold_seq_optional(world.state, result_case, "geely:1") is None


def test_case_hold_holds_a_pending_erasure_silently(world: CoreChain) -> None:
    world.send("owner-a", erasure_body())
    kinds = log_kinds(world)
    authorized_case(world)
    erasure = er.get_erasure(world.state, "saic:1", 0)
    assert erasure.status == er.ErasureStatus.HELD
    assert log_kinds(world) == kinds  # no erasure_held event before notice
    assert world.reject("saic", complete_body()) == "legal_hold_active"


def test_erasure_requested_under_a_case_hold_is_held_without_event(world: CoreChain) -> None:
    authorized_case(world)
    world.send("owner-a", erasure_body())
    assert er.get_erasure(world.state, "saic:1", 0).status == er.ErasureStatus.HELD
    assert log_kinds(world)[-1] == "erasure_request"
    assert "erasure_held" not in log_kinds(world)
    assert world.reject("saic", complete_body()) == "legal_hold_active"


def test_erasure_requested_after_the_notice_is_told_of_the_hold(world: CoreChain) -> None:
    # Once the case is noticed its hold is no secret: an erasure it blocks from then on
    # must say so in the owner's log (issue item 10), as a notice does for earlier ones.
    case_id = authorized_case(world, notice_delay_ms=0)  # noticed at its block's end
    world.send("owner-a", erasure_body())
    assert er.get_erasure(world.state, "saic:1", 0).status == er.ErasureStatus.HELD
    assert log_kinds(world)[-2:] == ["erasure_request", "erasure_held"]
    event = access_log.get_access_log_page(world.state, "saic:1", limit=1)[0]
    seq = case_holds.get_case_hold_seq_optional(world.state, case_id, "saic:1")
    assert (event.actor_member, event.detail) == ("court2", f"hold={seq};case={case_id}")


def test_erasure_outside_the_case_scope_is_not_held(world: CoreChain) -> None:
    authorized_case(world)
    world.send("owner-a", erasure_body(categories=("diagnostics",)))
    world.send("owner-b", erasure_body("geely:1"))
    assert er.get_erasure(world.state, "saic:1", 0).status == er.ErasureStatus.OPEN
    assert er.get_erasure(world.state, "geely:1", 0).status == er.ErasureStatus.OPEN
    world.send("saic", complete_body())


def test_an_open_hold_beside_a_case_hold_is_still_told(world: CoreChain) -> None:
    authorized_case(world)
    place = holds.PlaceHold("saic:1", ["location"], *WINDOW, hashlib.sha256(b"c").digest())
    world.send("court", place)
    world.send("owner-a", erasure_body())
    assert log_kinds(world)[-1] == "erasure_held"


def test_invalid_legal_hold_lift_of_a_case_hold(world: CoreChain) -> None:
    case_id = authorized_case(world)
    seq = case_holds.get_case_hold_seq_optional(world.state, case_id, "saic:1")
    assert seq is not None
    assert world.reject("court2", holds.LiftHold("saic:1", seq)) == "case_hold_not_liftable"
    assert world.reject("court", holds.LiftHold("saic:1", seq)) == "not_hold_owner"


def test_close_lifts_the_case_holds_and_reopens_held_erasures(world: CoreChain) -> None:
    world.send("owner-a", erasure_body())
    case_id = authorized_case(world)
    kinds = log_kinds(world)
    world.send("police", CloseCase(case_id))
    for vid in ("saic:1", "saic:2"):
        seq = case_holds.get_case_hold_seq_optional(world.state, case_id, vid)
        assert seq is not None
        assert holds.get_hold(world.state, vid, seq).status == holds.HoldStatus.LIFTED
        assert holds.get_holds_in_force(world.state, vid) == []
    reopened = er.get_erasure(world.state, "saic:1", 0)
    assert reopened.status == er.ErasureStatus.OPEN and reopened.deadline_ms > world.now_ms
    assert log_kinds(world) == kinds
    world.send("saic", complete_body())


def test_close_after_the_notice_logs_the_lifted_holds(world: CoreChain) -> None:
    # The owner was told of the hold (notice, erasure_held); its end must not be silent.
    world.send("owner-a", erasure_body())
    case_id = authorized_case(world, notice_delay_ms=0)
    world.send("police", CloseCase(case_id))
    for vid in ("saic:1", "saic:2"):
        event = access_log.get_access_log_page(world.state, vid, limit=1)[0]
        seq = case_holds.get_case_hold_seq_optional(world.state, case_id, vid)
        assert (event.kind, event.ref, event.actor_member) == ("hold_lifted", seq, "court2")
    assert er.get_erasure(world.state, "saic:1", 0).status == er.ErasureStatus.OPEN


def test_close_keeps_an_erasure_held_by_another_case(world: CoreChain) -> None:
    world.send("owner-a", erasure_body())
    first = authorized_case(world)
    authorized_case(world)
    world.send("police", CloseCase(first))
    assert er.get_erasure(world.state, "saic:1", 0).status == er.ErasureStatus.HELD
    assert world.reject("saic", complete_body()) == "legal_hold_active"


def test_holds_cover_only_the_authorised_scope(world: CoreChain) -> None:
    case_id = open_case(world)
    narrow = scope(["saic:2"], ["crash_pulse"])
    world.send("court2", authorize_body(world, case_id, narrow))
    # saic:1 was held from the opening; the narrowed authorisation frees it
    assert holds.get_holds_in_force(world.state, "saic:1") == []
    world.send("owner-a", erasure_body("saic:2", ("location",)))
    assert er.get_erasure(world.state, "saic:2", 0).status == er.ErasureStatus.OPEN


def test_an_open_case_holds_its_scope_until_the_court_decides(world: CoreChain) -> None:
    """An open case preserves its data: an erasure requested before the court decides is
    held (silently), and a rejection frees it again."""
    case_id = open_case(world)
    assert [h.case_id for h in holds.get_holds_in_force(world.state, "saic:1")] == [case_id]
    world.send("owner-a", erasure_body("saic:1", ("location",)))
    assert er.get_erasure(world.state, "saic:1", 0).status == er.ErasureStatus.HELD
    world.send("court2", RejectCase(case_id, "insufficient_basis"))
    assert holds.get_holds_in_force(world.state, "saic:1") == []
    assert er.get_erasure(world.state, "saic:1", 0).status == er.ErasureStatus.OPEN


def test_an_erasure_held_from_the_opening_stays_held_through_authorisation(
    world: CoreChain,
) -> None:
    case_id = open_case(world)
    world.send("owner-a", erasure_body("saic:1", ("location",)))
    world.send("court2", authorize_body(world, case_id, scope()))
    assert er.get_erasure(world.state, "saic:1", 0).status == er.ErasureStatus.HELD
    in_force = holds.get_holds_in_force(world.state, "saic:1")
    seq = case_holds.get_case_hold_seq_optional(world.state, case_id, "saic:1")
    assert [h.seq for h in in_force] == [seq]  # the opening's hold replaced, not added


def test_close_of_an_open_case_lifts_its_opening_holds(world: CoreChain) -> None:
    case_id = open_case(world)
    world.send("police", CloseCase(case_id))
    assert holds.get_hold_count(world.state, "saic:1") == 1
    assert holds.get_holds_in_force(world.state, "saic:1") == []
