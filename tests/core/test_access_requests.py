"""access.request: any active member may ask; the chain records an approval naming the grant
of each category, or a refusal with its reason (the transaction succeeds so the refusal
leaves a trace). Default deny; the decision is a pure function of the grants in force."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carchain.core import access as acc
from carchain.core import access_log
from carchain.core.access import Approval
from carchain.core.consents import Grant
from carchain.core.erasure import CompleteErasure, RequestErasure
from carchain.core.members import Member, MemberStatus
from carchain.core.types import MemberId, PublicKey
from tests.core.memory import CoreChain, core_chain  # noqa: F401
from tests.core.sharing import (
    FROM_MS,
    UNTIL_MS,
    genesis,  # noqa: F401
    get_request,
    grant_body,
    request_body,
    setup_world,
    transfer,
    withdraw_body,
)


@pytest.fixture
def world(chain: CoreChain) -> CoreChain:
    return setup_world(chain)


def events(world: CoreChain) -> list[tuple[str, int, str]]:
    return [
        (e.kind, e.ref, e.detail) for e in access_log.get_access_log_page(world.state, "saic:1")
    ]


def test_request_approved_names_the_grant(world: CoreChain) -> None:
    world.send("owner-a", grant_body())
    result = world.send("bosch", request_body())
    assert {e.type for e in result.events} >= {"access_requested", "access_approved"}
    r = get_request(world)
    assert (r.decision, r.reason, r.approvals) == ("approved", "", [Approval("diagnostics", 0)])
    assert (r.requester, r.requester_member, r.released_height) == (
        world.key("bosch").public_key,
        "bosch",
        0,
    )
    assert events(world)[:2] == [("approved", 0, "0"), ("request", 0, "maintenance_diagnostics")]


def test_request_without_grant_is_refused_and_recorded(world: CoreChain) -> None:
    result = world.send("bosch", request_body())
    assert {e.type for e in result.events} >= {"access_requested", "access_refused"}
    r = get_request(world)
    assert (r.decision, r.reason, r.approvals) == ("refused", "no_grant", [])
    assert events(world) == [("refused", 0, "no_grant"), ("request", 0, "maintenance_diagnostics")]


@pytest.mark.parametrize(
    ("who", "change", "reason"),
    [
        ("geely", {}, "no_grant"),  # another member than the named one
        ("bosch", {"purpose": "marketing"}, "no_grant"),  # another purpose
        ("bosch", {"categories": ["diagnostics", "time"]}, "no_grant"),  # one more category
        ("bosch", {"data_from_ms": FROM_MS - 1}, "no_grant"),  # before the grant's window
        ("bosch", {"data_until_ms": UNTIL_MS + 1}, "no_grant"),  # after it
        ("bosch", {"vehicle_id": "saic:2"}, "no_grant"),  # another car of the same owner
        ("bosch", {"categories": ["location"]}, "sensitive_needs_named_grant"),
    ],
)
def test_request_outside_the_grant_is_refused(
    world: CoreChain, who: str, change: dict[str, object], reason: str
) -> None:
    world.send("owner-a", grant_body())
    world.send(who, msgspec.structs.replace(request_body(), **change))
    vid = str(change.get("vehicle_id", "saic:1"))
    assert (get_request(world, vid).decision, get_request(world, vid).reason) == ("refused", reason)


def test_role_wide_grant_covers_members_of_the_role_only(world: CoreChain) -> None:
    world.send(
        "owner-a", grant_body(purpose="insurance", recipient_id="", recipient_role="insurer")
    )
    world.send("pingan", request_body(purpose="insurance"))
    world.send("bosch", request_body(purpose="insurance"))
    assert get_request(world, seq=0).decision == "approved"
    assert get_request(world, seq=1).reason == "no_grant"


def test_role_wide_grant_never_covers_location(world: CoreChain) -> None:
    world.send(
        "owner-a",
        grant_body(purpose="navigation_maps", recipient_id="", recipient_role="service_provider"),
    )
    world.send("amap", request_body(categories=("location",), purpose="navigation_maps"))
    assert get_request(world).reason == "sensitive_needs_named_grant"


def test_sensitive_category_with_its_named_grant(world: CoreChain) -> None:
    world.send("owner-a", grant_body())
    world.send("owner-a", grant_body(categories=("location",), recipient_id="bosch"))
    world.send("bosch", request_body(categories=("diagnostics", "location")))
    assert get_request(world).approvals == [Approval("diagnostics", 0), Approval("location", 1)]


def test_request_after_withdrawal_is_refused(world: CoreChain) -> None:
    world.send("owner-a", grant_body())
    world.send("owner-a", withdraw_body())
    world.send("bosch", request_body())
    assert get_request(world).reason == "no_grant"


def test_request_in_the_withdrawal_block_is_still_approved(world: CoreChain) -> None:
    world.send("owner-a", grant_body())
    owner, bosch = world.key("owner-a"), world.key("bosch")
    assert world.submit(world.build(owner, withdraw_body())).ok
    assert world.submit(world.build(bosch, request_body())).ok
    assert [r.code for r in world.block()] == [0, 0]
    assert get_request(world).decision == "approved"


def test_request_after_expiry_is_refused(world: CoreChain) -> None:
    world.send("owner-a", grant_body(expires_ms=world.now_ms + 2000))
    world.block()
    world.send("bosch", request_body())
    assert get_request(world).reason == "no_grant"


def test_request_after_the_car_was_sold_is_refused(world: CoreChain) -> None:
    world.send("owner-a", grant_body("saic:2"))
    transfer(world, "saic:2", "owner-a", "owner-c")
    world.send("bosch", request_body("saic:2"))
    assert get_request(world, "saic:2").reason == "no_grant"


def test_grant_does_not_revive_when_the_owner_buys_the_car_back(world: CoreChain) -> None:
    world.send("owner-a", grant_body("saic:2"))
    transfer(world, "saic:2", "owner-a", "owner-c")
    transfer(world, "saic:2", "owner-c", "owner-a", seq=1)
    # The old grant's window covers owner-c's time: it must not come back into force.
    world.send("bosch", request_body("saic:2"))
    assert get_request(world, "saic:2").reason == "no_grant"


def test_erased_data_is_refused(world: CoreChain, monkeypatch: pytest.MonkeyPatch) -> None:
    world.send("owner-a", grant_body())
    monkeypatch.setattr(acc, "is_erased", lambda view, vid, cat, a, b: cat == "diagnostics")
    world.send("bosch", request_body())
    assert get_request(world).reason == "erased"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"categories": []}, "invalid_body"),
        ({"categories": ["nope"]}, "invalid_body"),
        ({"categories": ["time", "diagnostics"]}, "invalid_body"),
        ({"purpose": "spying"}, "invalid_body"),
        ({"data_from_ms": UNTIL_MS}, "invalid_body"),
        ({"data_from_ms": -5}, "invalid_body"),
        ({"data_until_ms": 2**63}, "invalid_body"),
        ({"vehicle_id": "saic:404"}, "not_found"),
        ({"vehicle_id": "not a vehicle"}, "not_found"),
        ({"vehicle_id": "saic:" + "x" * 300}, "invalid_body"),
    ],
)
def test_invalid_request_body(world: CoreChain, change: dict[str, object], code: str) -> None:
    assert world.reject("bosch", msgspec.structs.replace(request_body(), **change)) == code


@pytest.mark.parametrize("who", ["owner-a", "stranger"])
def test_invalid_request_by_non_member(world: CoreChain, who: str) -> None:
    world.send("owner-a", grant_body())
    assert world.reject(who, request_body()) == "unauthorized"


# --- the decision function ------------------------------------------------------------

CATS = ["diagnostics", "location", "time", "vehicle_status"]
MEMBER = Member(MemberId("m1"), "M", ["insurer"], PublicKey(b"k" * 32), MemberStatus.ACTIVE, 1)


def make_grant(seq: int, cats: set[str], purpose: str, named: bool, lo: int, width: int) -> Grant:
    recipient_id, role = ("m1", "") if named else ("", "insurer")
    return Grant(
        "saic:1", seq, b"o" * 32, 0, sorted(cats), purpose, recipient_id, role, lo, lo + width,
        2**62, 1, 0,
    )  # fmt: skip


grants_st = st.lists(
    st.builds(
        make_grant,
        st.integers(0, 20),
        st.sets(st.sampled_from(CATS), min_size=1, max_size=2),
        st.sampled_from(["insurance", "research"]),
        st.booleans(),
        st.integers(0, 10),
        st.integers(1, 10),
    ),
    max_size=6,
)


@settings(max_examples=300, deadline=None)
@given(
    grants=grants_st,
    cats=st.sets(st.sampled_from(CATS), min_size=1),
    purpose=st.sampled_from(["insurance", "research"]),
    lo=st.integers(0, 10),
    width=st.integers(1, 10),
)
def test_decision_approves_exactly_what_grants_cover(
    grants: list[Grant], cats: set[str], purpose: str, lo: int, width: int
) -> None:
    body = acc.RequestAccess("saic:1", sorted(cats), lo, lo + width, purpose)
    approvals, reason = acc.compute_decision(grants, MEMBER, body)
    assert bool(approvals) != bool(reason)
    for a in approvals:
        g = next(
            g
            for g in grants
            if g.seq == a.grant_seq and acc.is_grant_covering(g, MEMBER, body, a.category)
        )
        assert a.category in g.categories and g.purpose == purpose
        assert g.data_from_ms <= lo and lo + width <= g.data_until_ms
        if a.category == "location":  # sensitive: only ever under a grant naming the member
            assert g.recipient_id == MEMBER.member_id
    covered = all(
        any(acc.is_grant_covering(g, MEMBER, body, c) for g in grants) for c in body.categories
    )
    assert covered == (not reason)
    assert [a.category for a in approvals] == (body.categories if covered else [])


def test_decision_never_approves_sensitive_data_under_a_role_grant() -> None:
    role_grant = make_grant(0, {"location"}, "insurance", False, 0, 10)
    body = acc.RequestAccess("saic:1", ["location"], 0, 1, "insurance")
    assert acc.compute_decision([role_grant], MEMBER, body) == ([], "sensitive_needs_named_grant")


def test_decision_is_default_deny() -> None:
    body = acc.RequestAccess("saic:1", ["time"], 0, 1, "insurance")
    assert acc.compute_decision([], MEMBER, body) == ([], "no_grant")


def test_request_for_erased_data_is_refused(world: CoreChain) -> None:
    """Once the OEM has completed an erasure of diagnostics, a request overlapping the
    erased window is refused with ``erased`` even under a grant in force; data outside
    the erased window and other categories are still decided on the grants."""
    world.send("owner-a", grant_body(categories=("diagnostics", "time")))
    erased_until = FROM_MS + 1000
    world.send("owner-a", RequestErasure("saic:1", ["diagnostics"], FROM_MS, erased_until))
    world.send("saic", CompleteErasure("saic:1", 0, [bytes(32)], bytes(32)))
    world.send("bosch", request_body(data_from_ms=FROM_MS, data_until_ms=erased_until + 1))
    assert (get_request(world, seq=0).decision, get_request(world, seq=0).reason) == (
        "refused",
        "erased",
    )
    # A later window, or another category of the erased window, is not affected.
    world.send("bosch", request_body(data_from_ms=erased_until + 1, data_until_ms=UNTIL_MS))
    assert get_request(world, seq=1).decision == "approved"
    world.send(
        "bosch",
        request_body(categories=("time",), data_from_ms=FROM_MS, data_until_ms=erased_until),
    )
    assert get_request(world, seq=2).decision == "approved"
