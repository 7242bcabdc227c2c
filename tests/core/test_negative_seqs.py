"""Sequence numbers in bodies: a negative or too large seq is a typed refusal, never a
crash of the state machine (a state key holds a seq as 8 unsigned bytes)."""

from __future__ import annotations

import pytest

from carchain.core import erasure as er
from carchain.core import holds
from tests.core.erasure_world import (
    OWNER,
    VID,
    complete_body,
    erasure_genesis,  # noqa: F401
    place_body,
    register,
    request_body,
)
from tests.core.memory import CoreChain, core_chain  # noqa: F401

BAD_SEQS = [-1, -(2**63), 2**63, 2**64 - 1]


@pytest.mark.parametrize("seq", BAD_SEQS)
def test_erasure_complete_with_a_bad_seq_is_refused(chain: CoreChain, seq: int) -> None:
    register(chain)
    chain.send(OWNER, request_body())
    body = complete_body()
    bad = er.CompleteErasure(VID, seq, body.destroyed, body.tombstone_hash)
    assert chain.reject("saic", bad) == "invalid_body"
    assert er.get_erasure(chain.state, VID, 0).status == "open"


@pytest.mark.parametrize("seq", BAD_SEQS)
def test_hold_lift_with_a_bad_seq_is_refused(chain: CoreChain, seq: int) -> None:
    register(chain)
    chain.send("court1", place_body())
    assert chain.reject("court1", holds.LiftHold(VID, seq)) == "invalid_body"
    assert holds.get_hold(chain.state, VID, 0).status == "in_force"


@pytest.mark.parametrize("value", [-1, 2**64])
def test_a_state_key_refuses_an_int_out_of_range(value: int) -> None:
    from carchain.core.state import compute_key
    from carchain.errors import InvalidBody

    with pytest.raises(InvalidBody):
        compute_key("e", VID, value)
    assert compute_key("e", VID, 2**64 - 1).endswith(b"\xff" * 8)
