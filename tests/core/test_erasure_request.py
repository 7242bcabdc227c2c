"""erasure.request: the vehicle's current owner asks; the chain records the scope, the
deadline in working days of block time, and logs it; a bad scope is refused."""

from __future__ import annotations

import msgspec
import pytest

from carchain.core import access_log
from carchain.core import erasure as er
from carchain.core.deadlines import compute_deadline_ms
from carchain.core.genesis import Genesis
from carchain.errors import InvalidGenesis
from tests.conftest import GENESIS_TIME_MS
from tests.core.erasure_world import (
    CATEGORIES,
    FROM_MS,
    OWNER,
    UNTIL_MS,
    VID,
    erasure_genesis,  # noqa: F401
    register,
    request_body,
)
from tests.core.memory import CoreChain, core_chain, open_core_chain  # noqa: F401


@pytest.fixture(name="owned")
def owned_chain(chain: CoreChain) -> CoreChain:
    register(chain)
    return chain


def test_request(owned: CoreChain) -> None:
    result = owned.send(OWNER, request_body())
    e = er.get_erasure(owned.state, VID, 0)
    block_ms = owned.now_ms
    assert (e.seq, e.vehicle_id, e.oem, e.owner, e.categories) == (
        0,
        VID,
        "saic",
        OWNER.public_key,
        CATEGORIES,
    )
    assert (e.data_from_ms, e.data_until_ms, e.status) == (FROM_MS, UNTIL_MS, "open")
    assert e.requested_ms == block_ms and e.requested_height == owned.height
    assert e.deadline_ms == compute_deadline_ms(block_ms, 10)
    events = {ev.type: ev.attributes for ev in result.events}
    assert events["erasure_requested"] == {"vehicle_id": VID, "seq": "0", "status": "open"}
    assert er.get_erasures(owned.state, VID) == [e]


def test_request_seq_counts_per_vehicle(owned: CoreChain) -> None:
    owned.send(OWNER, request_body())
    owned.send(OWNER, request_body(categories=["motion"]))
    assert [e.seq for e in er.get_erasures(owned.state, VID)] == [0, 1]
    assert er.get_erasure_optional(owned.state, VID, 2) is None


def test_request_is_in_the_access_log(owned: CoreChain) -> None:
    owned.send(OWNER, request_body())
    (event,) = access_log.get_access_log_page(owned.state, VID)
    deadline = er.get_erasure(owned.state, VID, 0).deadline_ms
    assert (event.kind, event.actor, event.actor_member, event.ref) == (
        "erasure_request",
        OWNER.public_key,
        "",
        0,
    )
    assert event.categories == CATEGORIES and event.detail == f"deadline_ms={deadline}"
    # The OEM sees it too.
    assert [e for _, e in access_log.get_oem_access_log_page(owned.state, "saic")] == [event]


def test_request_deadline_counts_the_genesis_parameter(genesis: Genesis) -> None:
    chain = open_core_chain(msgspec.structs.replace(genesis, erasure_working_days=3))
    register(chain)
    chain.send(OWNER, request_body())
    assert er.get_erasure_working_days(chain.state) == 3
    assert er.get_erasure(chain.state, VID, 0).deadline_ms == compute_deadline_ms(chain.now_ms, 3)


@pytest.mark.parametrize("days", [0, -1, er.MAX_WORKING_DAYS + 1])
def test_invalid_genesis_erasure_working_days(genesis: Genesis, days: int) -> None:
    with pytest.raises(InvalidGenesis, match="erasure_working_days"):
        open_core_chain(msgspec.structs.replace(genesis, erasure_working_days=days))


def test_request_default_deadline_is_ten_working_days(owned: CoreChain) -> None:
    # Genesis 2023-11-14 is a Tuesday: ten working days later is two weeks later.
    owned.send(OWNER, request_body())
    e = er.get_erasure(owned.state, VID, 0)
    assert e.requested_ms > GENESIS_TIME_MS
    assert e.deadline_ms == e.requested_ms + 14 * 86_400_000


def test_request_is_allowed_for_a_revoked_vehicle(owned: CoreChain) -> None:
    from carchain.core.vehicles import RevokeVehicle

    owned.send("saic", RevokeVehicle(VID, "scrapped"))
    owned.send(OWNER, request_body())
    assert er.get_erasure(owned.state, VID, 0).status == "open"


@pytest.mark.parametrize(
    "change",
    [
        {"categories": []},
        {"categories": ["location", "diagnostics"]},  # not sorted
        {"categories": ["diagnostics", "diagnostics"]},
        {"categories": ["vin"]},
        {"categories": ["Diagnostics"]},
        {"data_from_ms": 3_000},  # from after until
        {"data_from_ms": -1},
        {"data_until_ms": 2**63},
    ],
)
def test_invalid_request_scope(owned: CoreChain, change: dict[str, object]) -> None:
    body = msgspec.structs.replace(request_body(), **change)
    assert owned.reject(OWNER, body) == "invalid_body"


def test_invalid_request_unknown_vehicle(owned: CoreChain) -> None:
    assert owned.reject(OWNER, request_body(vid="saic:404")) == "not_found"
    assert owned.reject(OWNER, request_body(vid="not a vehicle id")) == "not_found"


def test_invalid_request_too_many_unfinished(owned: CoreChain) -> None:
    for _ in range(er.MAX_PENDING):
        assert owned.submit(owned.build(OWNER, request_body())).ok
    owned.block()
    assert er.get_erasure_count(owned.state, VID) == er.MAX_PENDING
    assert owned.reject(OWNER, request_body()) == "invalid_state"


def test_invalid_request_replay(owned: CoreChain) -> None:
    raw = owned.build(OWNER, request_body())
    assert owned.submit(raw).ok
    owned.block()
    before = owned.state.snapshot()
    assert owned.submit(raw).error_code == "invalid_nonce"
    assert owned.include(raw)[0].error_code == "invalid_nonce"
    assert owned.state.snapshot() == before


def test_invalid_request_by_a_new_owner_for_the_previous_owners_data(chain: CoreChain) -> None:
    """After a sale the new owner erases its own data only (as it consents for its own
    data only): the previous owner's period is not its to shred."""
    from carchain.core.vehicles import get_vehicle
    from tests.core.erasure_world import NEW_OWNER, transfer

    register(chain)
    transfer(chain, VID, OWNER, NEW_OWNER)
    since = get_vehicle(chain.state, VID).owner_since_ms
    before = request_body(from_ms=since - 1, until_ms=since + 1000)
    assert chain.reject(NEW_OWNER, before) == "invalid_body"
    assert er.get_erasure_count(chain.state, VID) == 0
    chain.send(NEW_OWNER, request_body(from_ms=since, until_ms=since + 1000))
    assert er.get_erasure(chain.state, VID, 0).owner == NEW_OWNER.public_key
