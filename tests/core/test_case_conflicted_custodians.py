"""A custodian who is law enforcement (or the case's own authority) never counts toward a
case's quorum: governance can change a seated member's roles after the committee was set,
and the committee rule "law enforcement never holds a share" must still hold for votes
and releases, like a suspended custodian's approval no longer counts."""

from __future__ import annotations

import pytest

from carchain.core import governance as gov
from carchain.core import members
from carchain.core.case_records import ApproveCase, CommitteeSeat
from carchain.core.state import WriteBuffer
from carchain.errors import InvalidCommittee
from tests.core.lawful_world import (
    SEATS,
    approve,
    authorize_body,
    authorized_case,
    committee_action,
    genesis,  # noqa: F401
    govern,
    item,
    open_case,
    register_escrow_key,
    release_body,
    scope,
    setup_world,
)
from tests.core.memory import CoreChain, core_chain  # noqa: F401


@pytest.fixture
def world(chain: CoreChain) -> CoreChain:
    return setup_world(chain)


def _make_audit_police(chain: CoreChain) -> None:
    # Governance now refuses this (test_invalid_governance_cannot_make_a_custodian_police);
    # written into state directly, as a chain that changed it before the rule would hold.
    make_police(chain, "audit")


def make_police(chain: CoreChain, member_id: str) -> None:
    """Give ``member_id`` the law-enforcement role, bypassing governance."""
    view = WriteBuffer(chain.state)
    member = members.get_member(view, member_id)
    members.process_change_roles(view, member_id, sorted({*member.roles, "law_enforcement"}))
    view.flush()
    chain.block()


def test_invalid_governance_cannot_make_a_custodian_police_or_an_oem(world: CoreChain) -> None:
    for roles in (["auditor", "law_enforcement"], ["auditor", "oem"]):
        proposal = gov.Propose(gov.ChangeRoles("audit", roles))
        assert world.reject("miit", proposal) == InvalidCommittee.code
    # A member seated in no committee may still change roles.
    assert govern(world, gov.ChangeRoles("pingan", ["insurer", "oem"])).status == "executed"


def test_invalid_a_law_enforcement_member_sits_for_no_organisation_type(
    world: CoreChain,
) -> None:
    seats = [CommitteeSeat("judgecop", "court"), *SEATS[1:]]
    register_escrow_key(world, "judgecop")
    assert world.reject("miit", gov.Propose(committee_action(seats))) == InvalidCommittee.code


def test_invalid_authority_cannot_approve_its_own_case(world: CoreChain) -> None:
    _make_audit_police(world)
    case_id = open_case(world, scope(), by="audit")
    world.send("court2", authorize_body(world, case_id, scope()))
    assert world.reject("audit", ApproveCase(case_id)) == "not_case_custodian"


def test_invalid_custodian_turned_police_approval_no_longer_counts(world: CoreChain) -> None:
    case_id = authorized_case(world)
    approve(world, case_id, "court", "audit", "saic")
    _make_audit_police(world)
    assert world.reject("caam", release_body(case_id)) == "quorum_not_reached"
    assert world.reject("audit", ApproveCase(case_id)) in ("already_voted", "not_case_custodian")
    approve(world, case_id, "caam")  # a fourth, independent custodian restores the quorum
    world.send("caam", release_body(case_id, item(index=2)))


@pytest.mark.parametrize("party", ["police", "court2"])
def test_invalid_a_suspended_authority_or_court_case_releases_nothing(
    world: CoreChain, party: str
) -> None:
    case_id = authorized_case(world)
    approve(world, case_id, "court", "caam")
    assert govern(world, gov.SuspendMember(party)).status == "executed"
    assert world.reject("audit", ApproveCase(case_id)) == "case_not_authorized"
    assert world.reject("caam", release_body(case_id)) == "case_not_authorized"
    assert govern(world, gov.ReinstateMember(party)).status == "executed"
    approve(world, case_id, "audit")
    world.send("caam", release_body(case_id))


def test_invalid_two_seats_sharing_a_key_or_a_seat_on_another_members_key(
    chain: CoreChain,
) -> None:
    # caam registers audit's escrow key (or SAIC's member key, the OEM seat's fallback):
    # one private key would open two shares of every key.
    from carchain.core.case_records import RegisterEscrowKey
    from tests.core.lawful_world import escrow_key_name, register

    register(chain, "saic:1", "owner-a")
    for member_id in ("court", "audit"):
        register_escrow_key(chain, member_id)
    for key in (chain.key(escrow_key_name("audit")).public_key, chain.key("saic").public_key):
        chain.send("caam", RegisterEscrowKey(key))
        assert chain.reject("miit", gov.Propose(committee_action())) == InvalidCommittee.code
    register_escrow_key(chain, "caam")
    assert govern(chain, committee_action()).status == "executed"


def test_invalid_the_authorising_court_is_no_custodian_of_its_case(world: CoreChain) -> None:
    """A court that authorised a case checks its own decision: its seat does not count,
    so the quorum is k parties besides the authority and the court."""
    case_id = open_case(world, scope())
    world.send("court", authorize_body(world, case_id, scope()))
    assert world.reject("court", ApproveCase(case_id)) == "not_case_custodian"
