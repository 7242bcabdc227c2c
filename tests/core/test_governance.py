"""governance.propose / governance.vote: every action, thresholds, rejection,
expiry, and who may vote.

The test genesis has five active founders and a 2/3 threshold, so a proposal
needs ceil(5 * 2 / 3) = 4 yes votes and is rejected by the second no vote.
"""

from __future__ import annotations

import pytest

from carchain.core import governance as gov
from carchain.core import members
from carchain.core.members import Member
from carchain.core.types import TxResult, ValidatorUpdate
from carchain.errors import NotFound
from tests.conftest import TTL_BLOCKS, make_genesis, seeded_key, validator_key
from tests.core.memory import CoreChain, core_chain, open_core_chain  # noqa: F401


def events(result: TxResult) -> dict[str, dict[str, str]]:
    return {e.type: e.attributes for e in result.events}


def propose(chain: CoreChain, proposer: str, action: gov.Action) -> int:
    result = chain.send(proposer, gov.Propose(action))
    return int(events(result)["proposal_created"]["proposal_id"])


def vote(chain: CoreChain, voter: str, pid: int, approve: bool = True) -> TxResult:
    return chain.send(voter, gov.Vote(pid, approve))


def proposal(chain: CoreChain, pid: int) -> gov.Proposal:
    return gov.get_proposal(chain.app.state, pid)


def member(chain: CoreChain, member_id: str) -> Member:
    return members.get_member(chain.app.state, member_id)


def carry(chain: CoreChain, proposer: str, action: gov.Action) -> int:
    """Propose, then vote yes with the other active founders until it closes."""
    pid = propose(chain, proposer, action)
    for voter in ("saic", "geely", "bosch", "miit", "police"):
        if proposal(chain, pid).status != "open":
            break
        if voter != proposer and member(chain, voter).status == "active":
            vote(chain, voter, pid)
    assert proposal(chain, pid).status != "open"
    return pid


def last_updates(chain: CoreChain) -> list[ValidatorUpdate]:
    return chain.finalized[-1].validator_updates


# --- the threshold ---------------------------------------------------------------------------


def test_required_votes_is_ceiling_of_fraction() -> None:
    params = gov.GovernanceParams(2, 3, 10)
    # ceil(n * 2 / 3), computed by hand for small consortia.
    assert [gov.compute_required_votes(params, n) for n in range(0, 10)] == [
        1, 1, 2, 2, 3, 4, 4, 5, 6, 6,
    ]  # fmt: skip
    assert gov.compute_required_votes(gov.GovernanceParams(1, 1, 10), 7) == 7


def test_add_member_executes_exactly_at_threshold(chain: CoreChain) -> None:
    newcomer = seeded_key("ping-an")
    pid = propose(
        chain, "miit", gov.AddMember("ping-an", "Ping An", ["insurer"], newcomer.public_key)
    )
    p = proposal(chain, pid)
    assert (p.status, p.yes, p.no, p.proposer) == ("open", ["miit"], [], "miit")
    assert p.expires_height == p.created_height + TTL_BLOCKS
    vote(chain, "saic", pid)
    result = vote(chain, "geely", pid)
    assert proposal(chain, pid).status == "open"
    assert "proposal_closed" not in events(result)
    with pytest.raises(NotFound, match="no such member"):
        member(chain, "ping-an")
    result = vote(chain, "police", pid)
    ev = events(result)
    assert ev["proposal_closed"] == {"proposal_id": str(pid), "status": "executed"}
    assert ev["member_changed"] == {"member_id": "ping-an", "status": "active"}
    assert proposal(chain, pid).status == "executed"
    m = member(chain, "ping-an")
    assert (m.roles, m.public_key, m.status, m.power) == (
        ["insurer"],
        newcomer.public_key,
        "active",
        0,
    )
    assert members.get_active_member_count(chain.app.state) == 6
    assert last_updates(chain) == []
    # The new member can act at once.
    pid2 = propose(chain, "ping-an", gov.SuspendMember("bosch"))
    assert proposal(chain, pid2).yes == ["ping-an"]


def test_proposal_ids_increase(chain: CoreChain) -> None:
    a = propose(chain, "miit", gov.SuspendMember("bosch"))
    b = propose(chain, "police", gov.SuspendMember("bosch"))
    assert (a, b) == (1, 2)


def test_single_member_consortium_executes_on_proposal(tmp_path) -> None:  # type: ignore[no-untyped-def]
    g = make_genesis(founders=(("solo", "Solo", ["regulator"], 0),))
    chain = open_core_chain(g)
    pid = propose(chain, "solo", gov.AddMember("x", "X", ["oem"], seeded_key("x").public_key))
    assert proposal(chain, pid).status == "executed"


def test_rejected_by_no_votes(chain: CoreChain) -> None:
    pid = propose(chain, "miit", gov.SuspendMember("bosch"))
    result = vote(chain, "saic", pid, approve=False)
    assert proposal(chain, pid).status == "open"  # 4 yes still possible
    assert events(result)["vote_cast"]["approve"] == "false"
    result = vote(chain, "geely", pid, approve=False)
    assert events(result)["proposal_closed"]["status"] == "rejected"
    p = proposal(chain, pid)
    assert (p.status, p.no) == ("rejected", ["saic", "geely"])
    assert member(chain, "bosch").status == "active"
    # Closed: further votes fail.
    assert chain.reject("police", gov.Vote(pid, True)) == "invalid_state"


def test_expiry_after_ttl_blocks(chain: CoreChain) -> None:
    pid = propose(chain, "miit", gov.SuspendMember("bosch"))
    expires = proposal(chain, pid).expires_height
    while chain.engine.height + 1 < expires:
        chain.send("saic", gov.Propose(gov.SuspendMember("police")))  # unrelated blocks
    assert chain.engine.height + 1 == expires
    vote(chain, "geely", pid)  # the last block that may still vote
    assert chain.reject("police", gov.Vote(pid, True)) == "invalid_state"
    assert chain.engine.height == expires + 1
    p = proposal(chain, pid)
    assert (p.status, p.yes) == ("open", ["miit", "geely"])
    assert member(chain, "bosch").status == "active"


def test_invalid_double_vote(chain: CoreChain) -> None:
    pid = propose(chain, "miit", gov.SuspendMember("bosch"))
    vote(chain, "saic", pid)
    assert chain.reject("saic", gov.Vote(pid, False)) == "invalid_state"
    assert chain.reject("miit", gov.Vote(pid, True)) == "invalid_state"  # proposer voted yes
    assert proposal(chain, pid).yes == ["miit", "saic"]


def test_invalid_vote_by_non_member(chain: CoreChain) -> None:
    pid = propose(chain, "miit", gov.SuspendMember("bosch"))
    assert chain.reject("stranger", gov.Vote(pid, True)) == "unauthorized"
    assert chain.last_check is not None and not chain.last_check.ok
    assert proposal(chain, pid).yes == ["miit"]


def test_invalid_vote_by_suspended_member(chain: CoreChain) -> None:
    carry(chain, "miit", gov.SuspendMember("police"))
    assert member(chain, "police").status == "suspended"
    pid = propose(chain, "miit", gov.SuspendMember("bosch"))
    assert chain.reject("police", gov.Vote(pid, True)) == "unauthorized"
    assert chain.reject("police", gov.Propose(gov.SuspendMember("saic"))) == "unauthorized"


def test_invalid_vote_on_unknown_proposal(chain: CoreChain) -> None:
    assert chain.reject("saic", gov.Vote(99, True)) == "not_found"
    assert chain.reject("saic", gov.Vote(-1, True)) == "not_found"
    assert chain.reject("saic", gov.Vote(0, True)) == "not_found"


def test_invalid_propose_by_non_member(chain: CoreChain) -> None:
    assert chain.reject("stranger", gov.Propose(gov.SuspendMember("bosch"))) == "unauthorized"


def test_threshold_follows_active_members(chain: CoreChain) -> None:
    """With one of five suspended, 4 active need ceil(8/3) = 3 yes votes."""
    carry(chain, "miit", gov.SuspendMember("police"))
    pid = propose(chain, "miit", gov.SuspendMember("bosch"))
    vote(chain, "saic", pid)
    assert proposal(chain, pid).status == "open"
    vote(chain, "geely", pid)
    assert proposal(chain, pid).status == "executed"
    assert members.get_active_member_count(chain.app.state) == 3


# --- every action ------------------------------------------------------------------------------


def test_add_member_with_validator_emits_update(chain: CoreChain) -> None:
    vk = validator_key("catarc")
    action = gov.AddMember(
        "catarc", "CATARC", ["association"], seeded_key("catarc").public_key, vk, 7
    )
    carry(chain, "miit", action)
    assert last_updates(chain) == [ValidatorUpdate(vk, 7)]
    assert (member(chain, "catarc").validator_key, member(chain, "catarc").power) == (vk, 7)


@pytest.mark.parametrize(
    ("action", "code"),
    [
        (gov.AddMember("saic", "Dup", ["oem"], seeded_key("n1").public_key), "already_exists"),
        (gov.AddMember("n1", "Dup key", ["oem"], seeded_key("saic").public_key), "already_exists"),
        (gov.AddMember("n1", "Short key", ["oem"], b"k" * 31), "invalid_body"),
        (gov.AddMember("n1", "N", ["pirate"], seeded_key("n1").public_key), "invalid_body"),
        (
            gov.AddMember("n1", "N", ["supplier", "oem"], seeded_key("n1").public_key),
            "invalid_body",
        ),
        (gov.AddMember("n1", "N", ["oem", "oem"], seeded_key("n1").public_key), "invalid_body"),
        (gov.AddMember("n1", "N", [], seeded_key("n1").public_key), "invalid_body"),
        (gov.AddMember("bad id!", "N", ["oem"], seeded_key("n1").public_key), "invalid_body"),
        (gov.AddMember("n1", "", ["oem"], seeded_key("n1").public_key), "invalid_body"),
        (gov.AddMember("n1", "N\n", ["oem"], seeded_key("n1").public_key), "invalid_body"),
        (gov.AddMember("n1", "N", ["oem"], seeded_key("n1").public_key, b"", 5), "invalid_body"),
        (
            gov.AddMember("n1", "N", ["oem"], seeded_key("n1").public_key, b"v" * 32, -1),
            "invalid_body",
        ),
        (
            gov.AddMember("n1", "N", ["oem"], seeded_key("n1").public_key, b"v" * 32, 10**9),
            "invalid_body",
        ),
        (gov.SuspendMember("nobody"), "not_found"),
        (gov.ReinstateMember("nobody"), "not_found"),
        (gov.RemoveMember("nobody"), "not_found"),
        (gov.ChangeRoles("bosch", ["pirate"]), "invalid_body"),
        (gov.ChangeRoles("nobody", ["oem"]), "not_found"),
        (gov.RotateMemberKey("nobody", seeded_key("n1").public_key), "not_found"),
        (gov.RotateMemberKey("bosch", b"k" * 31), "invalid_body"),
        (gov.RotateMemberKey("bosch", b""), "invalid_body"),
        (gov.SetValidator("bosch", b"v" * 31, 1), "invalid_body"),
        (gov.SetValidator("nobody", b"v" * 32, 1), "not_found"),
        (gov.SuspendMember("x" * 300), "invalid_body"),
    ],
)
def test_invalid_proposal_actions(chain: CoreChain, action: gov.Action, code: str) -> None:
    assert chain.reject("miit", gov.Propose(action)) == code
    with pytest.raises(NotFound, match="no such proposal"):
        proposal(chain, 1)


def test_suspend_member_stops_signing_and_removes_validator(chain: CoreChain) -> None:
    carry(chain, "miit", gov.SuspendMember("saic"))
    m = member(chain, "saic")
    assert (m.status, m.power) == ("suspended", 0)
    assert last_updates(chain) == [ValidatorUpdate(validator_key("saic"), 0)]
    assert members.get_active_member_count(chain.app.state) == 4
    assert chain.reject("saic", gov.Propose(gov.SuspendMember("bosch"))) == "unauthorized"


def test_invalid_suspend_twice_fails_at_execution(chain: CoreChain) -> None:
    carry(chain, "miit", gov.SuspendMember("bosch"))
    pid = carry(chain, "miit", gov.SuspendMember("bosch"))
    p = proposal(chain, pid)
    assert p.status == "failed"
    assert p.outcome.startswith("invalid_state")


def test_reinstate_member(chain: CoreChain) -> None:
    carry(chain, "miit", gov.SuspendMember("bosch"))
    carry(chain, "miit", gov.ReinstateMember("bosch"))
    assert member(chain, "bosch").status == "active"
    assert members.get_active_member_count(chain.app.state) == 5
    chain.send("bosch", gov.Propose(gov.SuspendMember("police")))


def test_invalid_reinstate_active_member(chain: CoreChain) -> None:
    pid = carry(chain, "miit", gov.ReinstateMember("bosch"))
    p = proposal(chain, pid)
    assert (p.status, p.outcome.split(":")[0]) == ("failed", "invalid_state")
    assert members.get_active_member_count(chain.app.state) == 5


def test_remove_member_is_final(chain: CoreChain) -> None:
    carry(chain, "miit", gov.RemoveMember("geely"))
    m = member(chain, "geely")
    assert (m.status, m.power) == ("removed", 0)
    assert last_updates(chain) == [ValidatorUpdate(validator_key("geely"), 0)]
    assert chain.reject("geely", gov.Vote(1, True)) == "unauthorized"
    # Now four active members: 3 yes votes carry a proposal.
    pid = propose(chain, "miit", gov.ReinstateMember("geely"))
    vote(chain, "saic", pid)
    vote(chain, "bosch", pid)
    assert proposal(chain, pid).status == "failed"
    assert member(chain, "geely").status == "removed"
    # Its key is free again for a new member; its record stays for the audit trail.
    carry(chain, "miit", gov.AddMember("geely2", "Geely", ["oem"], seeded_key("geely").public_key))


def test_change_roles_grants_and_takes_rights(chain: CoreChain) -> None:
    from tests.core.test_vehicles import register_body

    assert chain.reject("bosch", register_body("bosch:b-1")) == "unauthorized"
    carry(chain, "miit", gov.ChangeRoles("bosch", ["oem", "supplier"]))
    assert member(chain, "bosch").roles == ["oem", "supplier"]
    chain.send("bosch", register_body("bosch:b-1"))
    carry(chain, "miit", gov.ChangeRoles("bosch", ["supplier"]))
    assert chain.reject("bosch", register_body("bosch:b-2")) == "unauthorized"
    assert last_updates(chain) == []


def test_rotate_member_key(chain: CoreChain) -> None:
    new = seeded_key("saic-2027")
    carry(chain, "miit", gov.RotateMemberKey("saic", new.public_key))
    assert member(chain, "saic").public_key == new.public_key
    assert chain.reject("saic", gov.Propose(gov.SuspendMember("bosch"))) == "unauthorized"
    chain.send(new, gov.Propose(gov.SuspendMember("bosch")))
    assert last_updates(chain) == []  # not a validator change


def test_invalid_rotate_member_key_to_used_key(chain: CoreChain) -> None:
    pid = carry(chain, "miit", gov.RotateMemberKey("saic", seeded_key("geely").public_key))
    p = proposal(chain, pid)
    assert (p.status, p.outcome.split(":")[0]) == ("failed", "already_exists")
    assert member(chain, "saic").public_key == seeded_key("saic").public_key


def test_set_validator_add_change_and_remove(chain: CoreChain) -> None:
    vk = validator_key("bosch")
    carry(chain, "miit", gov.SetValidator("bosch", vk, 3))
    assert last_updates(chain) == [ValidatorUpdate(vk, 3)]
    carry(chain, "miit", gov.SetValidator("bosch", vk, 5))
    assert last_updates(chain) == [ValidatorUpdate(vk, 5)]
    vk2 = validator_key("bosch-2")
    carry(chain, "miit", gov.SetValidator("bosch", vk2, 5))
    assert last_updates(chain) == [ValidatorUpdate(vk, 0), ValidatorUpdate(vk2, 5)]
    carry(chain, "miit", gov.SetValidator("bosch", vk2, 0))
    assert last_updates(chain) == [ValidatorUpdate(vk2, 0)]
    assert member(chain, "bosch").power == 0


def test_invalid_set_validator_on_suspended_member(chain: CoreChain) -> None:
    carry(chain, "miit", gov.SuspendMember("bosch"))
    pid = carry(chain, "miit", gov.SetValidator("bosch", validator_key("bosch"), 3))
    assert proposal(chain, pid).status == "failed"
    assert last_updates(chain) == []


def test_invalid_set_validator_to_another_members_key(chain: CoreChain) -> None:
    """Two members sharing a validator key would let one member's removal
    silently remove the other's voting power: refuse it."""
    pid = carry(chain, "miit", gov.SetValidator("bosch", validator_key("saic"), 3))
    p = proposal(chain, pid)
    assert (p.status, p.outcome.split(":")[0]) == ("failed", "already_exists")
    assert last_updates(chain) == []
    assert member(chain, "bosch").validator_key == b""
    # A key given up by its member may be taken by another.
    carry(chain, "miit", gov.SetValidator("saic", validator_key("saic-2"), 10))
    carry(chain, "miit", gov.SetValidator("bosch", validator_key("saic"), 3))
    assert last_updates(chain) == [ValidatorUpdate(validator_key("saic"), 3)]


def test_invalid_add_member_with_another_members_validator_key(chain: CoreChain) -> None:
    action = gov.AddMember(
        "n1", "N", ["oem"], seeded_key("n1").public_key, validator_key("geely"), 1
    )
    pid = carry(chain, "miit", action)
    assert proposal(chain, pid).outcome.split(":")[0] == "already_exists"
    with pytest.raises(NotFound, match="no such member"):
        member(chain, "n1")


def test_executed_action_that_became_impossible_fails(chain: CoreChain) -> None:
    """Two proposals to add the same id: the second fails when it would execute."""
    action = gov.AddMember("ping-an", "Ping An", ["insurer"], seeded_key("ping-an").public_key)
    first = propose(chain, "miit", action)
    second = propose(chain, "police", action)
    # Both proposals gather votes in the same blocks, so neither expires.
    raws = [
        chain.build(v, gov.Vote(pid, True)) for v in ("saic", "geely") for pid in (first, second)
    ]
    assert all(chain.submit(r).ok for r in raws)
    assert [r.code for r in chain.block()] == [0, 0, 0, 0]
    assert proposal(chain, second).status == "open"
    raws = [chain.build("bosch", gov.Vote(pid, True)) for pid in (first, second)]
    assert all(chain.submit(r).ok for r in raws)
    assert [r.code for r in chain.block()] == [0, 0]
    assert proposal(chain, first).status == "executed"
    p = proposal(chain, second)
    assert (p.status, p.outcome.split(":")[0]) == ("failed", "already_exists")


def test_invalid_suspended_members_earlier_vote_no_longer_counts(tmp_path) -> None:  # type: ignore[no-untyped-def]
    chain = open_core_chain(make_genesis(ttl=100))
    newcomer = seeded_key("newcomer").public_key
    pid = propose(chain, "saic", gov.AddMember("newcomer", "Newcomer", ["insurer"], newcomer))
    vote(chain, "geely", pid)
    vote(chain, "bosch", pid)  # 3 yes of the 4 needed
    carry(chain, "miit", gov.SuspendMember("bosch"))
    assert member(chain, "bosch").status == "suspended"
    # 4 active members now need 3 yes votes; bosch's earlier yes must not be one of them.
    vote(chain, "miit", pid, approve=False)
    assert proposal(chain, pid).status == "open"
    vote(chain, "police", pid)
    assert proposal(chain, pid).status == "executed"
    assert member(chain, "newcomer").status == "active"
