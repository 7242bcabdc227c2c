"""A network's genesis: the founders' (``network up``) or any given one, its first
members running the validators (no CometBFT needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from carchain.core.genesis import GenesisMember
from carchain.errors import NetworkError
from carchain.network import localnet
from carchain.network.genesis import (
    FOUNDERS,
    VALIDATOR_POWER,
    assign_validators,
    compute_network_genesis,
    create_member_keys,
)
from carchain.sim.story_consortium import create_story_consortium

VALIDATOR_KEYS = [bytes([i]) * 32 for i in range(1, 5)]


def test_founders_genesis_keeps_its_validators_and_extra_members() -> None:
    keys = create_member_keys()
    extra = GenesisMember("caam", "CAAM", ["association"], "aa" * 32)
    g = compute_network_genesis("c", VALIDATOR_KEYS, keys, extra_members=[extra])
    assert [m.member_id for m in g.members] == [m for m, _, _ in FOUNDERS] + ["caam"]
    assert [m.validator_key for m in g.members[:4]] == [k.hex() for k in VALIDATOR_KEYS]
    assert [m.power for m in g.members] == [VALIDATOR_POWER] * 4 + [0] * (len(FOUNDERS) - 3)
    assert g.members[0].public_key == keys["saic"].public_key.hex()


def test_any_genesis_gets_validators_on_its_first_members() -> None:
    story = create_story_consortium(5).genesis
    assert story is not None
    g = assign_validators(story, VALIDATOR_KEYS[:2], power=3)
    assert [(m.validator_key, m.power) for m in g.members[:3]] == [
        (VALIDATOR_KEYS[0].hex(), 3), (VALIDATOR_KEYS[1].hex(), 3), ("", 0),
    ]  # fmt: skip
    # Everything else of the story's genesis is kept: escrow keys, committee, members.
    assert g.escrow_committee == story.escrow_committee
    assert [m.escrow_key for m in g.members] == [m.escrow_key for m in story.members]
    assert g.chain_id == story.chain_id and len(g.members) == len(story.members)
    # Validators given before are replaced, not kept beside the new ones.
    again = assign_validators(g, VALIDATOR_KEYS[2:3])
    assert [m.power for m in again.members if m.power] == [VALIDATOR_POWER]


def test_invalid_more_validators_than_members() -> None:
    story = create_story_consortium(5).genesis
    assert story is not None
    keys = [bytes([i]) * 32 for i in range(len(story.members) + 1)]
    with pytest.raises(NetworkError, match="more validators than genesis members"):
        assign_validators(story, keys)


def test_invalid_network_of_a_genesis_with_extra_members(tmp_path: Path) -> None:
    story = create_story_consortium(5).genesis
    assert story is not None
    extra = [GenesisMember("x", "X", ["oem"], "aa" * 32)]
    with pytest.raises(NetworkError, match="not both"):
        localnet.create_network(tmp_path / "n", genesis=story, extra_members=extra)
    small = assign_validators(story, [])
    small = type(small)(small.chain_id, small.genesis_time_ms, small.governance, small.members[:2])
    with pytest.raises(NetworkError, match="more validators than genesis members"):
        localnet.create_network(tmp_path / "m", validators=3, genesis=small)
    assert not (tmp_path / "n").exists() and not (tmp_path / "m").exists()
