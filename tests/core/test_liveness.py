"""Governance must not hand 1/3 or more of the voting power to keys that do not sign.

Pure core: a dict-backed state from genesis, proposals executed by
``governance.process_propose`` under a ``BlockContext`` whose ``signers`` are
the keys that signed the previous block. The genesis threshold is 1/100, so the
proposer's own vote executes a proposal at once.
"""

from __future__ import annotations

import hashlib

import pytest

from carchain.core import governance as gov
from carchain.core import members
from carchain.core.effects import Effects
from carchain.core.genesis import apply_genesis
from carchain.core.types import BlockContext
from tests.conftest import CHAIN_ID, make_genesis, seeded_key, validator_key
from tests.core.memory import MemoryView

FOUR = tuple((mid, mid.upper(), ["oem"], 10) for mid in ("a", "b", "c", "d"))
DEAD_KEY = hashlib.sha256(b"a key no node runs").digest()


def make_state(founders: tuple[tuple[str, str, list[str], int], ...] = FOUR) -> MemoryView:
    view = MemoryView()
    apply_genesis(view, make_genesis(founders=founders, threshold=(1, 100)))
    return view


def ctx(*signers: str, height: int = 5) -> BlockContext:
    keys = tuple(validator_key(s) for s in signers)
    return BlockContext(CHAIN_ID, height, 1_000, b"\x00" * 20, keys)


def decide(
    view: MemoryView, context: BlockContext, action: gov.Action
) -> tuple[gov.Proposal, Effects]:
    """Propose ``action`` as member a (its vote alone carries it); return proposal and effects."""
    fx = Effects()
    gov.process_propose(view, context, seeded_key("a").public_key, gov.Propose(action), fx)
    return gov.get_proposal(view, _last_id(view)), fx


def _last_id(view: MemoryView) -> int:
    raw = view.get(gov.STORE, b"seq")
    assert raw is not None
    return int.from_bytes(raw, "big")


def add_member(member_id: str, key: bytes, power: int) -> gov.AddMember:
    return gov.AddMember(
        member_id, member_id, ["oem"], seeded_key(member_id).public_key, key, power
    )


def outside_governance(view: MemoryView) -> dict[tuple[str, bytes], bytes]:
    return {k: v for k, v in view.data.items() if k[0] != gov.STORE}


def assert_refused(view: MemoryView, context: BlockContext, action: gov.Action) -> None:
    before = outside_governance(view)
    proposal, fx = decide(view, context, action)
    assert proposal.status == gov.ProposalStatus.FAILED
    assert proposal.outcome.startswith("liveness_violation:")
    assert fx.validator_updates == []
    assert outside_governance(view) == before


def assert_executed(view: MemoryView, context: BlockContext, action: gov.Action) -> Effects:
    proposal, fx = decide(view, context, action)
    assert proposal.status == gov.ProposalStatus.EXECUTED, proposal.outcome
    return fx


ALL = ("a", "b", "c", "d")


def test_dead_key_with_a_million_power_via_add_member_is_refused() -> None:
    view = make_state()
    assert_refused(view, ctx(*ALL), add_member("mallory", DEAD_KEY, 1_000_000))
    assert members.get_member_optional(view, "mallory") is None
    assert members.get_total_validator_power(view) == 40


def test_dead_key_with_a_million_power_via_set_validator_is_refused() -> None:
    view = make_state()
    assert_refused(view, ctx(*ALL), gov.SetValidator("b", DEAD_KEY, 1_000_000))
    assert members.get_member(view, "b").validator_key == validator_key("b")
    assert members.get_validator_power(view, DEAD_KEY) == 0


@pytest.mark.parametrize("power", [20, 21])
def test_dead_key_with_a_third_or_more_of_the_power_is_refused(power: int) -> None:
    # 40 live of 60 is exactly 2/3: CometBFT needs more than 2/3, so it halts.
    view = make_state()
    assert_refused(view, ctx(*ALL), add_member("mallory", DEAD_KEY, power))


def test_dead_key_leaving_more_than_two_thirds_live_passes() -> None:
    view = make_state()
    assert_executed(view, ctx(*ALL), add_member("newcomer", DEAD_KEY, 19))  # 40 of 59


def test_moving_one_of_four_validators_to_a_new_key_passes() -> None:
    view = make_state()
    fx = assert_executed(view, ctx(*ALL), gov.SetValidator("d", DEAD_KEY, 10))  # 30 of 40 live
    assert members.get_validator_power(view, DEAD_KEY) == 10
    assert {u.pub_key: u.power for u in fx.validator_updates} == {
        validator_key("d"): 0,
        DEAD_KEY: 10,
    }


def test_removing_a_dead_validator_when_the_ratio_is_already_bad_passes() -> None:
    view = make_state()  # c and d stopped signing: 20 of 40 live, the chain is halted
    assert_executed(view, ctx("a", "b"), gov.SetValidator("c", validator_key("c"), 0))
    assert members.get_total_validator_power(view) == 30


def test_removing_a_signing_validator_while_one_is_offline_is_refused() -> None:
    view = make_state()  # d offline: 30 of 40 live; removing a leaves 20 of 30
    assert_refused(view, ctx("a", "b", "c"), gov.SuspendMember("a"))
    assert members.get_member(view, "a").status == members.MemberStatus.ACTIVE


def test_a_key_repeated_in_signers_counts_once() -> None:
    view = make_state()  # only a signed (10 of 40); listing it four times must not help
    repeated = BlockContext(CHAIN_ID, 5, 1_000, b"\x00" * 20, (validator_key("a"),) * 4)
    assert_refused(view, repeated, add_member("mallory", DEAD_KEY, 1))


def test_without_signers_the_rule_does_not_apply() -> None:
    view = make_state()  # solo engine, first blocks: nothing is known about signers
    assert_executed(view, ctx(), add_member("mallory", DEAD_KEY, 1_000_000))
    assert members.get_total_validator_power(view) == 1_000_040


def test_two_decisions_in_one_block_crossing_the_line_refuse_the_second() -> None:
    view = make_state()
    block = ctx(*ALL)
    assert_executed(view, block, add_member("first", DEAD_KEY, 15))  # 40 of 55: live
    second = hashlib.sha256(b"another dead key").digest()
    assert_refused(view, block, add_member("second", second, 5))  # 40 of 60: not live
    assert members.get_validator_power(view, DEAD_KEY) == 15
    assert members.get_total_validator_power(view) == 55


def test_rotating_the_only_validator_in_steps() -> None:
    view = make_state((("a", "A", ["oem"], 10),))
    new_key = validator_key("a2")
    assert_refused(view, ctx("a"), add_member("a2", new_key, 5))  # 10 of 15: not live
    assert_executed(view, ctx("a"), add_member("a2", new_key, 4))  # 10 of 14
    # Raising the new key before it has signed would leave 10 of 20 live.
    assert_refused(view, ctx("a"), gov.SetValidator("a2", new_key, 10))
    both = ctx("a", "a2", height=9)  # the new key signed a block
    assert_executed(view, both, gov.SetValidator("a2", new_key, 10))
    assert_executed(view, both, gov.SetValidator("a", b"", 0))
    assert members.get_total_validator_power(view) == 10
    assert members.get_validator_power(view, new_key) == 10
