"""legal_hold.place / legal_hold.lift: a court freezes part of a vehicle's data; erasure of
what a hold covers is refused until the placing court lifts it, and the owner is told."""

from __future__ import annotations

import msgspec
import pytest

from carchain.core import access_log, holds
from carchain.core import erasure as er
from carchain.core.deadlines import compute_deadline_ms
from carchain.errors import LegalHoldActive
from tests.core.erasure_world import (
    FROM_MS,
    OWNER,
    UNTIL_MS,
    VID,
    complete_body,
    erasure_genesis,  # noqa: F401
    place_body,
    register,
    request_body,
    suspend,
)
from tests.core.memory import CoreChain, core_chain  # noqa: F401


@pytest.fixture(name="owned")
def owned_chain(chain: CoreChain) -> CoreChain:
    register(chain)
    return chain


def kinds(chain: CoreChain) -> list[str]:
    return [e.kind for e in reversed(access_log.get_access_log_page(chain.state, VID, limit=100))]


def test_place(owned: CoreChain) -> None:
    body = place_body()
    result = owned.send("court1", body)
    hold = holds.get_hold(owned.state, VID, 0)
    assert (hold.seq, hold.court, hold.categories, hold.case_ref, hold.status) == (
        0,
        "court1",
        ["location"],
        body.case_ref,
        "in_force",
    )
    assert (hold.data_from_ms, hold.data_until_ms, hold.placed_ms) == (
        FROM_MS,
        UNTIL_MS,
        owned.now_ms,
    )
    assert holds.get_holds_in_force(owned.state, VID) == [hold]
    events = {e.type: e.attributes for e in result.events}
    assert events["legal_hold_placed"] == {"vehicle_id": VID, "seq": "0"}
    (logged,) = access_log.get_access_log_page(owned.state, VID)
    assert (logged.kind, logged.actor_member, logged.detail) == (
        "hold_placed",
        "court1",
        body.case_ref.hex(),
    )


def test_lift(owned: CoreChain) -> None:
    owned.send("court1", place_body())
    owned.send("court1", holds.LiftHold(VID, 0))
    hold = holds.get_hold(owned.state, VID, 0)
    assert (hold.status, hold.lifted_height) == ("lifted", owned.height)
    assert holds.get_holds_in_force(owned.state, VID) == []
    assert kinds(owned) == ["hold_placed", "hold_lifted"]


def test_placing_a_hold_holds_an_open_request_and_tells_the_owner(owned: CoreChain) -> None:
    owned.send(OWNER, request_body())
    owned.send("court1", place_body())
    assert er.get_erasure(owned.state, VID, 0).status == "held"
    assert kinds(owned) == ["erasure_request", "hold_placed", "erasure_held"]
    held = access_log.get_access_log_page(owned.state, VID, limit=1)[0]
    assert (held.ref, held.actor_member, held.detail) == (0, "court1", "hold=0")


def test_a_request_under_a_hold_starts_held(owned: CoreChain) -> None:
    owned.send("court1", place_body())
    owned.send(OWNER, request_body())
    assert er.get_erasure(owned.state, VID, 0).status == "held"
    assert kinds(owned) == ["hold_placed", "erasure_request", "erasure_held"]


def test_a_hold_outside_the_scope_holds_nothing(owned: CoreChain) -> None:
    owned.send(OWNER, request_body())
    owned.send("court1", place_body(categories=["motion"]))  # other category
    owned.send("court1", place_body(from_ms=UNTIL_MS + 1, until_ms=UNTIL_MS + 9))  # later data
    owned.send("court1", place_body(vid="saic:1", categories=["biometrics"]))
    assert er.get_erasure(owned.state, VID, 0).status == "open"
    owned.send("saic", complete_body())
    assert er.get_erasure(owned.state, VID, 0).status == "complete"


def test_erasure_under_a_hold_is_refused_until_lifted(owned: CoreChain) -> None:
    owned.send(OWNER, request_body())
    owned.send("court1", place_body())
    assert owned.reject("saic", complete_body()) == "legal_hold_active"
    assert er.get_erasure(owned.state, VID, 0).status == "held"
    # Held: the keys stay for the court, but nothing of the scope is released meanwhile.
    assert er.is_erased(owned.state, VID, "location", FROM_MS, UNTIL_MS)
    owned.send("court1", holds.LiftHold(VID, 0))
    lifted_ms = owned.now_ms
    e = er.get_erasure(owned.state, VID, 0)
    assert (e.status, e.deadline_ms) == ("open", compute_deadline_ms(lifted_ms, 10))
    owned.send("saic", complete_body())
    assert er.get_erasure(owned.state, VID, 0).status == "complete"


def test_a_request_stays_held_until_its_last_hold_lifts(owned: CoreChain) -> None:
    owned.send(OWNER, request_body())
    owned.send("court1", place_body())
    owned.send("court2", place_body(categories=["diagnostics"]))
    owned.send("court1", holds.LiftHold(VID, 0))
    assert er.get_erasure(owned.state, VID, 0).status == "held"
    assert owned.reject("saic", complete_body()) == "legal_hold_active"
    owned.send("court2", holds.LiftHold(VID, 1))
    assert er.get_erasure(owned.state, VID, 0).status == "open"


def test_validate_no_hold_is_reusable(owned: CoreChain) -> None:
    owned.send("court1", place_body())
    with pytest.raises(LegalHoldActive) as info:
        holds.validate_no_hold(owned.state, VID, ["location"], UNTIL_MS, UNTIL_MS + 1)
    assert (info.value.vehicle_id, info.value.hold_seq) == (VID, 0)
    holds.validate_no_hold(owned.state, VID, ["location"], UNTIL_MS + 1, UNTIL_MS + 2)
    holds.validate_no_hold(owned.state, VID, ["motion"], FROM_MS, UNTIL_MS)


def test_no_case_text_on_chain(owned: CoreChain) -> None:
    owned.send("court1", place_body())
    assert not any(b"case 2026-17" in v for v in owned.state.snapshot().values())


@pytest.mark.parametrize(
    "change",
    [
        {"categories": []},
        {"categories": ["location", "diagnostics"]},
        {"categories": ["nope"]},
        {"data_from_ms": UNTIL_MS + 1},
        {"data_from_ms": -5},
        {"case_ref": b"case 2026-17"},  # plaintext, not a 32-byte hash
        {"case_ref": b""},
    ],
)
def test_invalid_place_body(owned: CoreChain, change: dict[str, object]) -> None:
    assert owned.reject("court1", msgspec.structs.replace(place_body(), **change)) == "invalid_body"


def test_invalid_place_unknown_vehicle(owned: CoreChain) -> None:
    assert owned.reject("court1", place_body(vid="saic:404")) == "not_found"


def test_invalid_lift_twice(owned: CoreChain) -> None:
    owned.send("court1", place_body())
    owned.send("court1", holds.LiftHold(VID, 0))
    assert owned.reject("court1", holds.LiftHold(VID, 0)) == "hold_not_in_force"


def test_invalid_lift_unknown_hold(owned: CoreChain) -> None:
    assert owned.reject("court1", holds.LiftHold(VID, 0)) == "not_found"
    assert owned.reject("court1", holds.LiftHold("saic:404", 0)) == "not_found"


def test_invalid_lift_by_another_court(owned: CoreChain) -> None:
    owned.send("court1", place_body())
    assert owned.reject("court2", holds.LiftHold(VID, 0)) == "not_hold_owner"
    assert holds.get_hold(owned.state, VID, 0).status == "in_force"


def test_invalid_place_replay(owned: CoreChain) -> None:
    raw = owned.build("court1", place_body())
    assert owned.submit(raw).ok
    owned.block()
    before = owned.state.snapshot()
    assert owned.include(raw)[0].error_code == "invalid_nonce"
    assert owned.state.snapshot() == before


def test_invalid_suspended_court_cannot_place_or_lift(owned: CoreChain) -> None:
    owned.send("court1", place_body())
    suspend(owned, "court1")
    assert owned.reject("court1", place_body()) == "unauthorized"
    assert owned.reject("court1", holds.LiftHold(VID, 0)) == "unauthorized"
    # Nor can another court lift it in its place.
    assert owned.reject("court2", holds.LiftHold(VID, 0)) == "not_hold_owner"
    assert holds.get_hold(owned.state, VID, 0).status == "in_force"


def test_invalid_suspended_oem_cannot_complete(owned: CoreChain) -> None:
    owned.send(OWNER, request_body())
    suspend(owned, "saic")
    assert owned.reject("saic", complete_body()) == "unauthorized"
    assert er.get_erasure(owned.state, VID, 0).status == "open"


def test_invalid_place_beyond_the_most_holds_in_force(
    owned: CoreChain, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(holds, "MAX_HOLDS_PER_VEHICLE", 2)
    owned.send("court1", place_body())
    owned.send("court2", place_body())
    assert owned.reject("court1", place_body()) == "invalid_state"
    owned.send("court1", holds.LiftHold(VID, 0))  # a lifted hold frees its place
    owned.send("court1", place_body())
    assert [h.seq for h in holds.get_holds_in_force(owned.state, VID)] == [1, 2]


class _CountingView:
    """A read-only view over a chain's state that counts the reads of one store."""

    def __init__(self, chain: CoreChain, store: str) -> None:
        self.chain, self.store, self.reads = chain, store, 0

    def get(self, store: str, key: bytes) -> bytes | None:
        if store == self.store:
            self.reads += 1
        return self.chain.state.get(store, key)


def test_holds_in_force_cost_does_not_grow_with_lifted_holds(owned: CoreChain) -> None:
    """A court placing and lifting holds again and again must not make every later
    erasure request, completion and hold read the whole history."""
    for seq in range(40):
        assert owned.submit(owned.build("court1", place_body())).ok
        owned.block()
        assert owned.submit(owned.build("court1", holds.LiftHold(VID, seq))).ok
        owned.block()
    owned.send("court2", place_body())
    view = _CountingView(owned, holds.STORE)
    in_force = holds.get_holds_in_force(view, VID)  # type: ignore[arg-type]
    assert [h.court for h in in_force] == ["court2"]
    assert view.reads <= 3


class _CountingBuffer:
    """A write buffer over a chain's state that counts the reads of one store."""

    def __init__(self, chain: CoreChain, store: str) -> None:
        from carchain.core.state import WriteBuffer

        self.inner, self.store, self.reads = WriteBuffer(chain.state), store, 0

    def get(self, store: str, key: bytes) -> bytes | None:
        if store == self.store:
            self.reads += 1
        return self.inner.get(store, key)

    def set(self, store: str, key: bytes, value: bytes) -> None:
        self.inner.set(store, key, value)

    def delete(self, store: str, key: bytes) -> None:
        self.inner.delete(store, key)


def test_lifting_a_hold_reads_the_holds_in_force_once(owned: CoreChain) -> None:
    """A lift re-examines every held request: it must not re-read every hold for each."""
    from carchain.core.effects import Effects
    from carchain.core.types import BlockContext
    from tests.conftest import CHAIN_ID

    owned.send("court1", place_body())
    for _ in range(20):
        owned.send(OWNER, request_body())
    assert {e.status for e in er.get_erasures(owned.state, VID)} == {"held"}
    view = _CountingBuffer(owned, holds.STORE)
    ctx = BlockContext(CHAIN_ID, owned.height + 1, owned.now_ms + 1000, b"\x00" * 20)
    court = owned.key("court1").public_key
    er.process_lift_hold(view, ctx, court, holds.LiftHold(VID, 0), Effects())  # type: ignore[arg-type]
    assert view.reads <= 10
    assert {e.status for e in er.get_erasures(view, VID)} == {"open"}  # type: ignore[arg-type]
