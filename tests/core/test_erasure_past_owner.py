"""A previous owner may ask for the erasure of its own ownership period's data (PIPL art. 47).

Every cell: the current owner (its own window; one reaching before its ownership),
each previous owner inside its period, reaching past either end of it, or inside
another owner's period, and a stranger. Refusals are typed and change no state;
admission reads only the ``vehicles`` store (a binary search of the owner history).
"""

from __future__ import annotations

import pytest

from carchain.core import erasure as er
from carchain.core import owners
from carchain.core.vehicles import OwnerPeriod, get_owner_history, get_vehicle
from carchain.crypto.signing import SigningKey
from tests.conftest import seeded_key
from tests.core.erasure_world import (
    NEW_OWNER,
    STRANGER,
    VID,
    erasure_genesis,  # noqa: F401
    register,
    request_body,
    transfer,
)
from tests.core.memory import CoreChain, core_chain  # noqa: F401

FIRST = seeded_key("erasure/first-owner")
SECOND = seeded_key("erasure/second-owner")


@pytest.fixture(name="world")
def world_chain(chain: CoreChain) -> CoreChain:
    """VID owned by FIRST, then SECOND, then NEW_OWNER (now), each for a while."""
    register(chain, VID, FIRST)
    chain.block()
    transfer(chain, VID, FIRST, SECOND, 0)
    chain.block()
    chain.block()
    transfer(chain, VID, SECOND, NEW_OWNER, 1)
    chain.block()
    return chain


def get_periods(chain: CoreChain) -> list[OwnerPeriod]:
    """Return the owner history, oldest first."""
    periods = get_owner_history(chain.state, VID)
    assert [p.owner for p in periods] == [k.public_key for k in (FIRST, SECOND, NEW_OWNER)]
    assert all(p.since_ms < p.until_ms for p in periods)
    return periods


def test_previous_owners_erase_their_own_periods(world: CoreChain) -> None:
    first, second, _ = get_periods(world)
    world.send(FIRST, request_body(from_ms=first.since_ms, until_ms=first.until_ms - 1))
    world.send(SECOND, request_body(from_ms=second.since_ms, until_ms=second.until_ms - 1))
    got = er.get_erasures(world.state, VID)
    assert [(e.owner, e.data_from_ms, e.data_until_ms) for e in got] == [
        (FIRST.public_key, first.since_ms, first.until_ms - 1),
        (SECOND.public_key, second.since_ms, second.until_ms - 1),
    ]


def test_the_first_owner_also_erases_what_the_car_recorded_before_registration(
    world: CoreChain,
) -> None:
    first = get_periods(world)[0]
    world.send(FIRST, request_body(from_ms=0, until_ms=first.since_ms))
    assert er.get_erasure(world.state, VID, 0).owner == FIRST.public_key


def test_the_current_owner_keeps_its_rule(world: CoreChain) -> None:
    current = get_periods(world)[2]
    world.send(NEW_OWNER, request_body(from_ms=current.since_ms, until_ms=current.since_ms + 5))
    assert er.get_erasure_count(world.state, VID) == 1
    before = world.state.snapshot(skip=("accounts",))
    body = request_body(from_ms=current.since_ms - 1, until_ms=current.since_ms + 5)
    assert world.reject(NEW_OWNER, body) == "invalid_body"
    assert world.state.snapshot(skip=("accounts",)) == before


def _cells(periods: list[OwnerPeriod]) -> list[tuple[SigningKey, int, int]]:
    first, second, current = periods
    return [
        (FIRST, first.since_ms, first.until_ms),  # the next owner's first ms
        (FIRST, second.since_ms, second.until_ms - 1),  # the next owner's period
        (FIRST, current.since_ms, current.since_ms + 5),  # the current owner's
        (SECOND, first.until_ms - 1, second.until_ms - 1),  # before its start
        (SECOND, second.since_ms, second.until_ms),  # past its end
        (SECOND, first.since_ms, first.until_ms - 1),  # the previous owner's period
        (SECOND, current.since_ms, current.since_ms + 5),  # the current owner's
        (STRANGER, first.since_ms, first.until_ms - 1),
        (STRANGER, current.since_ms, current.since_ms + 5),
    ]


def test_no_one_erases_a_window_it_did_not_own_throughout(world: CoreChain) -> None:
    before = world.state.snapshot(skip=("accounts",))
    for signer, from_ms, until_ms in _cells(get_periods(world)):
        body = request_body(from_ms=from_ms, until_ms=until_ms)
        assert world.reject(signer, body) == "unauthorized", (from_ms, until_ms)
    assert world.state.snapshot(skip=("accounts",)) == before


def test_the_past_period_search_reads_log2_periods(world: CoreChain) -> None:
    vehicle = get_vehicle(world.state, VID)
    first, second, _ = get_periods(world)
    for t, want in ((first.since_ms, first), (second.since_ms, second), (0, first)):
        assert owners.get_past_period_of(world.state, vehicle, t) == want
    assert owners.get_past_period_of(world.state, vehicle, second.until_ms) is None
