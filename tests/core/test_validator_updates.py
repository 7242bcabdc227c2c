"""Validator updates of one block: merged per key, checked against CometBFT's rules,
and governance that can never leave the chain without a validator or a member.

Every way two updates for one key arise in one block is driven through real
governance transactions; after each block the updates are applied to the
previous validator set by a model of CometBFT's ``UpdateWithChangeSet`` (which
refuses duplicates, removals of unknown keys and an empty set), and the result
must equal the validator set the state holds.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from carchain.core import governance as gov
from carchain.core import members, validators
from carchain.core.types import TxResult, ValidatorUpdate
from carchain.core.validators import MAX_TOTAL_VOTING_POWER
from carchain.errors import LivenessViolation, get_error_class
from tests.conftest import make_genesis, seeded_key, validator_key
from tests.core.memory import CoreChain, core_chain, open_core_chain  # noqa: F401

MEMBER_IDS = ("saic", "geely", "bosch", "miit", "police")


def apply_like_cometbft(vset: dict[bytes, int], updates: list[ValidatorUpdate]) -> dict[bytes, int]:
    """Apply a change set as CometBFT v0.38 does, failing where it would halt."""
    keys = [u.pub_key for u in updates]
    assert len(keys) == len(set(keys)), "duplicate entry: CometBFT halts"
    out = dict(vset)
    for u in updates:
        assert len(u.pub_key) == 32 and u.power >= 0
        if u.power == 0:
            assert u.pub_key in out, "failed to find validator to remove: CometBFT halts"
            del out[u.pub_key]
        else:
            out[u.pub_key] = u.power
    assert out or not updates, "empty validator set: CometBFT halts"
    return out


def state_validator_set(chain: CoreChain, ids: tuple[str, ...] = MEMBER_IDS) -> dict[bytes, int]:
    """Return {validator key: power} as the committed state holds it."""
    out = {}
    for mid in ids:
        m = members.get_member(chain.app.state, mid)
        if m.power:
            out[m.validator_key] = m.power
    return out


@pytest.fixture
def gchain(tmp_path: Path) -> Iterator[CoreChain]:
    """Five founders (saic and geely validate with power 10), proposals live 100 blocks."""
    c = open_core_chain(make_genesis(ttl=100))
    yield c


def prepare(chain: CoreChain, action: gov.Action) -> int:
    """Propose ``action`` and gather 3 of the 4 yes votes it needs; return its id."""
    result = chain.send("miit", gov.Propose(action))
    pid = int(
        next(e for e in result.events if e.type == "proposal_created").attributes["proposal_id"]
    )
    chain.send("saic", gov.Vote(pid, True))
    chain.send("geely", gov.Vote(pid, True))
    assert gov.get_proposal(chain.app.state, pid).status == "open"
    return pid


def decide_in_one_block(chain: CoreChain, votes: list[tuple[str, int]]) -> list[ValidatorUpdate]:
    """Cast the deciding votes in one block; check the updates as CometBFT would.

    Return the block's validator updates.
    """
    before = state_validator_set(chain)
    for voter, pid in votes:
        assert chain.submit(chain.build(voter, gov.Vote(pid, True))).ok
    results: list[TxResult] = chain.block()
    assert [r.code for r in results] == [0] * len(votes), [r.log for r in results]
    for _, pid in votes:
        assert gov.get_proposal(chain.app.state, pid).status == "executed"
    updates = chain.finalized[-1].validator_updates
    assert apply_like_cometbft(before, updates) == state_validator_set(chain)
    assert members.get_total_validator_power(chain.app.state) == sum(
        state_validator_set(chain).values()
    )
    return updates


# --- two updates for one key in one block ----------------------------------------------------


def test_two_set_validator_decisions_for_one_member_merge_last_wins(gchain: CoreChain) -> None:
    ks = validator_key("saic")
    p1 = prepare(gchain, gov.SetValidator("saic", ks, 20))
    p2 = prepare(gchain, gov.SetValidator("saic", ks, 30))
    updates = decide_in_one_block(gchain, [("police", p1), ("police", p2)])
    assert updates == [ValidatorUpdate(ks, 30)]
    assert members.get_member(gchain.app.state, "saic").power == 30


def test_set_validator_then_suspension_in_one_block_is_one_removal(gchain: CoreChain) -> None:
    ks = validator_key("saic")
    p1 = prepare(gchain, gov.SetValidator("saic", ks, 20))
    p2 = prepare(gchain, gov.SuspendMember("saic"))
    updates = decide_in_one_block(gchain, [("police", p1), ("police", p2)])
    assert updates == [ValidatorUpdate(ks, 0)]
    m = members.get_member(gchain.app.state, "saic")
    assert (m.status, m.power) == ("suspended", 0)


def test_key_swap_between_members_in_one_block(gchain: CoreChain) -> None:
    """saic gives up its key for a temporary one, geely takes saic's, saic takes
    geely's: the temporary key never reaches CometBFT, and no key appears twice."""
    ks, kg, kt = validator_key("saic"), validator_key("geely"), validator_key("tmp")
    p1 = prepare(gchain, gov.SetValidator("saic", kt, 10))
    p2 = prepare(gchain, gov.SetValidator("geely", ks, 15))
    p3 = prepare(gchain, gov.SetValidator("saic", kg, 5))
    updates = decide_in_one_block(gchain, [("police", p1), ("police", p2), ("police", p3)])
    assert updates == [ValidatorUpdate(ks, 15), ValidatorUpdate(kg, 5)]
    assert state_validator_set(gchain) == {ks: 15, kg: 5}


def test_two_voters_deciding_add_and_remove_of_one_key_send_nothing(gchain: CoreChain) -> None:
    """Two honest votes by different members close two proposals in one block:
    bosch becomes a validator and stops again; CometBFT never knew the key, so
    a removal would be an unknown-key error: nothing is sent."""
    kb = validator_key("bosch")
    p1 = prepare(gchain, gov.SetValidator("bosch", kb, 5))
    p2 = prepare(gchain, gov.SetValidator("bosch", kb, 0))
    assert decide_in_one_block(gchain, [("police", p1), ("bosch", p2)]) == []
    assert members.get_member(gchain.app.state, "bosch").power == 0


def test_change_and_change_back_in_one_block_sends_nothing(gchain: CoreChain) -> None:
    ks = validator_key("saic")
    p1 = prepare(gchain, gov.SetValidator("saic", ks, 20))
    p2 = prepare(gchain, gov.SetValidator("saic", ks, 10))
    assert decide_in_one_block(gchain, [("police", p1), ("police", p2)]) == []


def test_new_member_validator_then_power_change_in_one_block(gchain: CoreChain) -> None:
    vk = validator_key("catarc")
    add = gov.AddMember("catarc", "CATARC", ["association"], seeded_key("catarc").public_key, vk, 7)
    p1 = prepare(gchain, add)
    # The second proposal may only be made once catarc exists: its decision
    # and the third's land in one block.
    assert gchain.submit(gchain.build("police", gov.Vote(p1, True))).ok
    gchain.block()
    p2 = prepare(gchain, gov.SetValidator("catarc", vk, 9))
    p3 = prepare(gchain, gov.SuspendMember("catarc"))
    ids = (*MEMBER_IDS, "catarc")
    before = state_validator_set(gchain, ids)
    for pid in (p2, p3):
        assert gchain.submit(gchain.build("police", gov.Vote(pid, True))).ok
    assert [r.code for r in gchain.block()] == [0, 0]
    updates = gchain.finalized[-1].validator_updates
    assert updates == [ValidatorUpdate(vk, 0)]
    assert apply_like_cometbft(before, updates) == state_validator_set(gchain, ids)


def test_key_released_and_taken_by_a_new_member_in_one_block(gchain: CoreChain) -> None:
    """saic moves to a new key and a new member joins with saic's old one: the old
    key is removed and re-added in one block, which CometBFT sees as one change."""
    ks, kn = validator_key("saic"), validator_key("saic-new")
    p1 = prepare(gchain, gov.SetValidator("saic", kn, 10))
    add = gov.AddMember("catarc", "CATARC", ["association"], seeded_key("catarc").public_key, ks, 4)
    p2 = prepare(gchain, add)
    before = state_validator_set(gchain)
    for pid in (p1, p2):
        assert gchain.submit(gchain.build("police", gov.Vote(pid, True))).ok
    assert [r.code for r in gchain.block()] == [0, 0]
    updates = gchain.finalized[-1].validator_updates
    assert updates == [ValidatorUpdate(ks, 4), ValidatorUpdate(kn, 10)]
    ids = (*MEMBER_IDS, "catarc")
    assert apply_like_cometbft(before, updates) == state_validator_set(gchain, ids)


# --- the pure merge and CometBFT's rules -----------------------------------------------------


K1, K2, K3 = (bytes([i]) * 32 for i in (1, 2, 3))


def test_merge_keeps_last_write_per_key_in_first_seen_order() -> None:
    ups = [ValidatorUpdate(K1, 5), ValidatorUpdate(K2, 3), ValidatorUpdate(K1, 7)]
    assert validators.compute_merged_updates(ups, {K1: 10}) == [
        ValidatorUpdate(K1, 7),
        ValidatorUpdate(K2, 3),
    ]


def test_merge_drops_no_ops_and_removals_of_keys_never_in_the_set() -> None:
    ups = [ValidatorUpdate(K1, 5), ValidatorUpdate(K1, 10), ValidatorUpdate(K2, 4)]
    ups += [ValidatorUpdate(K2, 0), ValidatorUpdate(K3, 0)]
    assert validators.compute_merged_updates(ups, {K1: 10}) == []


def test_valid_change_set_passes() -> None:
    ups = [ValidatorUpdate(K1, 0), ValidatorUpdate(K2, 4)]
    validators.validate_validator_updates(ups, {K1: 10, K2: 0}, 20)
    validators.validate_validator_updates([], {}, 0)


@pytest.mark.parametrize(
    ("updates", "before", "total", "match"),
    [
        ([ValidatorUpdate(K1, 0), ValidatorUpdate(K1, 0)], {K1: 10}, 20, "one address"),
        ([ValidatorUpdate(K1, 5), ValidatorUpdate(K1, 6)], {}, 10, "one address"),
        ([ValidatorUpdate(K3, 0)], {}, 10, "not a validator"),
        ([ValidatorUpdate(K1, -1)], {K1: 10}, 20, "out of range"),
        ([ValidatorUpdate(K1, MAX_TOTAL_VOTING_POWER + 1)], {}, 0, "out of range"),
        ([ValidatorUpdate(K1, MAX_TOTAL_VOTING_POWER)], {}, 10, "limit"),
        ([ValidatorUpdate(b"k" * 31, 1)], {}, 10, "32-byte"),
        ([ValidatorUpdate(b"k" * 33, 1)], {}, 10, "32-byte"),
        ([ValidatorUpdate(b"", 1)], {}, 10, "32-byte"),
        ([ValidatorUpdate(K1, 0)], {K1: 10}, 10, "empty"),
        ([ValidatorUpdate(K1, 0), ValidatorUpdate(K2, 0)], {K1: 10, K2: 10}, 20, "empty"),
    ],
)
def test_invalid_change_sets_cometbft_would_refuse(
    updates: list[ValidatorUpdate], before: dict[bytes, int], total: int, match: str
) -> None:
    with pytest.raises(LivenessViolation, match=match):
        validators.validate_validator_updates(updates, before, total)


def test_address_is_cometbfts_truncated_sha256() -> None:
    import hashlib

    assert validators.compute_validator_address(K1) == hashlib.sha256(K1).digest()[:20]


def test_liveness_violation_is_registered_with_a_stable_code() -> None:
    from carchain.api.errors import compute_http_status

    assert get_error_class("liveness_violation") is LivenessViolation
    assert compute_http_status("liveness_violation") == 409


# --- governance never empties the set -------------------------------------------------------


ONE_VALIDATOR = (
    ("saic", "SAIC Motor", ["oem"], 10),
    ("miit", "Ministry of Industry and IT", ["regulator"], 0),
)


@pytest.fixture
def lone(tmp_path: Path) -> Iterator[CoreChain]:
    """Two members, one validator (saic, power 10); a proposal needs both votes."""
    c = open_core_chain(make_genesis(founders=ONE_VALIDATOR, ttl=100))
    yield c


def carry_two(chain: CoreChain, action: gov.Action) -> gov.Proposal:
    """Pass ``action`` with both members' votes; return the closed proposal."""
    result = chain.send("miit", gov.Propose(action))
    pid = int(
        next(e for e in result.events if e.type == "proposal_created").attributes["proposal_id"]
    )
    chain.send("saic", gov.Vote(pid, True))
    return gov.get_proposal(chain.app.state, pid)


@pytest.mark.parametrize(
    "action",
    [
        gov.SuspendMember("saic"),
        gov.RemoveMember("saic"),
        gov.SetValidator("saic", validator_key("saic"), 0),
        gov.SetValidator("saic", b"", 0),
    ],
)
def test_invalid_action_that_leaves_no_validator_fails_and_changes_nothing(
    lone: CoreChain, action: gov.Action
) -> None:
    before = lone.state.snapshot(skip=("accounts", "governance"))
    p = carry_two(lone, action)
    assert p.status == "failed"
    assert p.outcome.startswith("liveness_violation:"), p.outcome
    assert lone.state.snapshot(skip=("accounts", "governance")) == before
    assert lone.finalized[-1].validator_updates == []
    m = members.get_member(lone.app.state, "saic")
    assert (m.status, m.power) == ("active", 10)
    assert members.get_total_validator_power(lone.app.state) == 10


def test_last_validator_may_move_to_a_new_key(lone: CoreChain) -> None:
    new = validator_key("saic-2")
    assert carry_two(lone, gov.SetValidator("saic", new, 10)).status == "executed"
    assert lone.finalized[-1].validator_updates == [
        ValidatorUpdate(validator_key("saic"), 0),
        ValidatorUpdate(new, 10),
    ]
    assert members.get_total_validator_power(lone.app.state) == 10


def test_invalid_suspending_both_validators_in_one_block_stops_at_the_last(
    gchain: CoreChain,
) -> None:
    p1 = prepare(gchain, gov.SuspendMember("saic"))
    p2 = prepare(gchain, gov.SetValidator("geely", validator_key("geely"), 0))
    for pid in (p1, p2):
        assert gchain.submit(gchain.build("police", gov.Vote(pid, True))).ok
    assert [r.code for r in gchain.block()] == [0, 0]
    assert gov.get_proposal(gchain.app.state, p1).status == "executed"
    second = gov.get_proposal(gchain.app.state, p2)
    assert (second.status, second.outcome.split(":")[0]) == ("failed", "liveness_violation")
    assert gchain.finalized[-1].validator_updates == [ValidatorUpdate(validator_key("saic"), 0)]
    assert state_validator_set(gchain) == {validator_key("geely"): 10}


def test_invalid_suspending_the_last_active_member_fails(tmp_path: Path) -> None:
    chain = open_core_chain(make_genesis(founders=(("solo", "S", ["oem"], 0),)))
    result = chain.send("solo", gov.Propose(gov.SuspendMember("solo")))
    assert {e.type for e in result.events} >= {"proposal_closed"}
    p = gov.get_proposal(chain.app.state, 1)
    assert (p.status, p.outcome.split(":")[0]) == ("failed", "liveness_violation")
    assert members.get_member(chain.app.state, "solo").status == "active"
    assert members.get_active_member_count(chain.app.state) == 1


def test_total_power_counter_follows_every_change(gchain: CoreChain) -> None:
    assert members.get_total_validator_power(gchain.app.state) == 20
    vk = validator_key("bosch")
    p = prepare(gchain, gov.SetValidator("bosch", vk, 7))
    decide_in_one_block(gchain, [("police", p)])
    assert members.get_total_validator_power(gchain.app.state) == 27
    assert members.get_validator_power(gchain.app.state, vk) == 7
    assert members.get_validator_power(gchain.app.state, validator_key("nobody")) == 0


def test_block_updates_are_checked_against_the_state_at_block_start(lone: CoreChain) -> None:
    """The last line of defence: a change set that would halt CometBFT never leaves
    the core, whatever produced it."""
    from carchain.core.block import compute_block_validator_updates

    state, ks, kx = lone.app.state, validator_key("saic"), validator_key("nobody")
    assert compute_block_validator_updates(state, []) == []
    assert compute_block_validator_updates(state, [ValidatorUpdate(kx, 0)]) == []
    twice = [ValidatorUpdate(ks, 20), ValidatorUpdate(ks, 30)]
    assert compute_block_validator_updates(state, twice) == [ValidatorUpdate(ks, 30)]
    with pytest.raises(LivenessViolation, match="empty"):
        compute_block_validator_updates(state, [ValidatorUpdate(ks, 0)])
    with pytest.raises(LivenessViolation, match="32-byte"):
        compute_block_validator_updates(state, [ValidatorUpdate(b"k" * 31, 5)])
