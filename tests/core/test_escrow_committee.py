"""Escrow keys and the escrow committee: registration, the governance action's rules
(checked at proposal and again at execution), versions in force from the next epoch."""

from __future__ import annotations

import pytest

from carchain.core import escrow_committee as ec
from carchain.core import governance as gov
from carchain.core.case_records import (
    DAY_MS,
    VEHICLE_OEM_SEAT,
    ApproveCase,
    CommitteeSeat,
    RegisterEscrowKey,
)
from carchain.core.escrow_committee import compute_epoch
from tests.core.lawful_world import (
    EPOCH,
    EPOCH_MS,
    SEATS,
    approve,
    authorize_body,
    committee_action,
    escrow_key_name,
    genesis,  # noqa: F401
    govern,
    item,
    open_body,
    open_case,
    register,
    register_escrow_key,
    release_body,
    scope,
    set_committee,
    setup_world,
)
from tests.core.memory import CoreChain, core_chain  # noqa: F401


@pytest.fixture
def keyed(chain: CoreChain) -> CoreChain:
    """Custodians with escrow keys, no committee yet."""
    for member_id in ("court", "caam", "audit"):
        register_escrow_key(chain, member_id)
    return chain


# --- escrow.register_key ------------------------------------------------------------


def test_register_escrow_key(chain: CoreChain) -> None:
    result = chain.send("caam", RegisterEscrowKey(chain.key("escrow/caam").public_key))
    assert result.events[1].type == "escrow_key_registered"
    assert ec.get_escrow_key_optional(chain.state, "caam") == chain.key("escrow/caam").public_key
    chain.send("caam", RegisterEscrowKey(chain.key("escrow/caam2").public_key))  # rotation
    assert ec.get_escrow_key_optional(chain.state, "caam") == chain.key("escrow/caam2").public_key


def test_invalid_escrow_key(chain: CoreChain) -> None:
    assert chain.reject("caam", RegisterEscrowKey(b"\x01" * 31)) == "invalid_body"
    # Not a point of the curve (no X25519 image): y = 2 is not on edwards25519.
    assert chain.reject("caam", RegisterEscrowKey((2).to_bytes(32, "little"))) == "invalid_body"
    assert chain.reject("owner-a", RegisterEscrowKey(chain.key("x").public_key)) == "unauthorized"


# --- SetEscrowCommittee ---------------------------------------------------------------


def test_committee_in_force_from_the_next_epoch(keyed: CoreChain) -> None:
    chain = keyed
    assert ec.get_committee_for_epoch(chain.state, EPOCH) is None
    set_committee(chain)
    committee = ec.get_committee(chain.state, 1)
    assert committee.from_epoch == compute_epoch(chain.now_ms) + 1 == EPOCH
    assert [(c.index, c.member_id) for c in committee.custodians] == [
        (1, "court"),
        (2, "caam"),
        (3, "audit"),
        (4, VEHICLE_OEM_SEAT),
    ]
    assert committee.custodians[1].escrow_key == chain.key(escrow_key_name("caam")).public_key
    assert ec.get_committee_for_epoch(chain.state, EPOCH - 1) is None
    assert ec.get_committee_for_epoch(chain.state, EPOCH + 100) == committee


def test_committee_change_applies_from_the_next_epoch(keyed: CoreChain) -> None:
    chain = keyed
    set_committee(chain)
    chain.now_ms = EPOCH_MS + 3 * DAY_MS + 5_000  # day EPOCH + 3
    two_of_three = committee_action(SEATS[:2] + SEATS[3:], threshold=2)
    set_committee(chain, two_of_three)
    first, second = ec.get_committee(chain.state, 1), ec.get_committee(chain.state, 2)
    assert second.from_epoch == EPOCH + 4
    assert ec.get_committee_for_epoch(chain.state, EPOCH + 3) == first
    assert ec.get_committee_for_epoch(chain.state, EPOCH + 4) == second
    versions = ec.get_committee_versions_for(chain.state, EPOCH + 2, EPOCH + 5)
    assert [c.version for c in versions] == [1, 2]
    assert [
        c.version for c in ec.get_committee_versions_for(chain.state, EPOCH + 4, EPOCH + 9)
    ] == [2]


def test_release_quorum_follows_the_committee_of_the_epoch(chain: CoreChain) -> None:
    """Keys of the days before a change stay shared 3 of 4; later days 2 of 3."""
    setup_world(chain)
    chain.now_ms = EPOCH_MS + 5_000
    set_committee(chain, committee_action(SEATS[:2] + SEATS[3:], threshold=2))
    case_id = open_case(chain, scope(from_ms=EPOCH_MS, until_ms=EPOCH_MS + 2 * DAY_MS))
    chain.send(
        "court2",
        authorize_body(chain, case_id, scope(from_ms=EPOCH_MS, until_ms=EPOCH_MS + 2 * DAY_MS)),
    )
    approve(chain, case_id, "court", "caam")
    assert chain.reject("caam", release_body(case_id, item(epoch=EPOCH))) == "quorum_not_reached"
    chain.send("caam", release_body(case_id, item(epoch=EPOCH + 1)))
    # audit holds no seat in version 2: its seat index 3 is the OEM seat there.
    assert chain.reject("audit", release_body(case_id, item(epoch=EPOCH + 1, index=3))) == (
        "not_case_custodian"
    )


def test_superseded_on_its_first_day_is_never_in_force(keyed: CoreChain) -> None:
    set_committee(keyed)
    set_committee(keyed, committee_action(threshold=2))
    assert [c.version for c in ec.get_committee_versions_for(keyed.state, EPOCH, EPOCH + 9)] == [2]


@pytest.mark.parametrize(
    ("action", "code"),
    [
        (committee_action(threshold=1), "invalid_committee"),
        (committee_action(threshold=5), "invalid_committee"),
        (committee_action(SEATS[:1], threshold=2), "invalid_committee"),
        (committee_action([*SEATS[:3], CommitteeSeat("court", "court")]), "invalid_committee"),
        (committee_action([*SEATS[:3], CommitteeSeat("court2", "court")]), "invalid_committee"),
        (
            committee_action([*SEATS[:3], CommitteeSeat("police", "law_enforcement")]),
            "invalid_committee",
        ),
        (committee_action([*SEATS[:3], CommitteeSeat("pingan", "auditor")]), "invalid_committee"),
        (
            committee_action([*SEATS[:3], CommitteeSeat(VEHICLE_OEM_SEAT, "insurer")]),
            "invalid_committee",
        ),
        # A named OEM may sit (for every car), but needs its escrow key.
        (committee_action([*SEATS[:3], CommitteeSeat("saic", "oem")]), "no_escrow_key"),
        (committee_action([*SEATS[:3], CommitteeSeat("pingan", "insurer")]), "no_escrow_key"),
        (committee_action([*SEATS[:3], CommitteeSeat("nobody", "insurer")]), "not_found"),
        (committee_action(categories=["crash_pulse"]), "invalid_committee"),
        (committee_action(categories=["location", "audio_video", "biometrics"]), "invalid_body"),
        (
            committee_action(categories=["audio_video", "biometrics", "location", "x"]),
            "invalid_body",
        ),
    ],
)
def test_invalid_committee_refused_at_proposal(
    keyed: CoreChain, action: ec.SetEscrowCommittee, code: str
) -> None:
    assert keyed.reject("miit", gov.Propose(action)) == code
    assert ec.get_committee_count(keyed.state) == 0


def test_invalid_committee_of_more_than_sixteen(keyed: CoreChain) -> None:
    seats = [CommitteeSeat(f"m{n}", f"t{n}") for n in range(17)]
    assert keyed.reject("miit", gov.Propose(committee_action(seats, 3))) == "invalid_committee"


def test_committee_checked_again_at_execution(keyed: CoreChain) -> None:
    """A custodian suspended between proposal and execution fails the proposal."""
    chain = keyed
    result = chain.send("miit", gov.Propose(committee_action()))
    pid = int(
        next(e for e in result.events if e.type == "proposal_created").attributes["proposal_id"]
    )
    assert govern(chain, gov.SuspendMember("audit")).status == "executed"
    for voter in (
        "saic",
        "geely",
        "bosch",
        "police",
        "police2",
        "court",
        "court2",
        "judgecop",
        "caam",
        "pingan",
    ):
        assert chain.submit(chain.build(voter, gov.Vote(pid, True))).ok
    chain.block()
    proposal = gov.get_proposal(chain.state, pid)
    assert proposal.status == "failed" and proposal.outcome.startswith("invalid_committee")
    assert ec.get_committee_count(chain.state) == 0


def test_no_case_before_any_committee(keyed: CoreChain) -> None:
    register(keyed, "saic:1", "owner-a")
    register(keyed, "saic:2", "owner-a")
    assert keyed.reject("police", open_body(keyed)) == "no_escrow_committee"


def test_get_seat_key(chain: CoreChain) -> None:
    setup_world(chain)
    committee = ec.get_committee(chain.state, 1)
    oem_seat = committee.custodians[3]
    assert ec.get_seat_key(chain.state, oem_seat, "saic") == chain.key("saic").public_key
    register_escrow_key(chain, "saic")
    assert ec.get_seat_key(chain.state, oem_seat, "saic") == chain.key("escrow/saic").public_key
    caam = committee.custodians[1]
    assert ec.get_seat_key(chain.state, caam, "saic") == chain.key("escrow/caam").public_key


def test_a_category_dropped_by_a_later_committee_is_no_longer_released(chain: CoreChain) -> None:
    """A case may name future days; a committee that stops escrowing a category from a
    later day leaves no share of it to release for those days."""
    setup_world(chain)
    window = scope(from_ms=EPOCH_MS, until_ms=EPOCH_MS + 3 * DAY_MS)
    case_id = open_case(chain, window)
    chain.send("court2", authorize_body(chain, case_id, window))
    approve(chain, case_id, "court", "caam", "saic")
    later = open_case(chain, window)
    chain.now_ms = EPOCH_MS + 5_000  # day EPOCH: the change is in force from EPOCH + 1
    set_committee(chain, committee_action(categories=["audio_video", "biometrics", "location"]))
    chain.send("caam", release_body(case_id, item(epoch=EPOCH)))
    dropped = release_body(case_id, item(epoch=EPOCH + 1))
    assert chain.reject("caam", dropped) == "category_not_escrowed"
    chain.send("caam", release_body(case_id, item(epoch=EPOCH + 1, category="location")))
    # A case opened before the change can no longer be authorised over those days.
    assert chain.reject("court2", authorize_body(chain, later, window)) == "category_not_escrowed"


def test_invalid_suspended_custodian_neither_votes_nor_releases(chain: CoreChain) -> None:
    setup_world(chain)
    case_id = open_case(chain)
    chain.send("court2", authorize_body(chain, case_id))
    approve(chain, case_id, "court", "caam", "saic")
    assert govern(chain, gov.SuspendMember("audit")).status == "executed"
    assert chain.reject("audit", ApproveCase(case_id)) == "unauthorized"
    assert chain.reject("audit", release_body(case_id, item(index=3))) == "unauthorized"
