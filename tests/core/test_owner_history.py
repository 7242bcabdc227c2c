"""Owner history: each transfer closes an ownership period at the block time, and
``get_owner_at`` answers who owned a vehicle at any time since its registration."""

from __future__ import annotations

import pytest

from carchain.core import vehicles as veh
from carchain.core.vehicles import OPEN_UNTIL_MS, OwnerPeriod
from carchain.errors import NotFound
from tests.conftest import seeded_key
from tests.core.memory import CoreChain, core_chain  # noqa: F401
from tests.core.test_vehicles import OWNER, register_body, transfer_body


def test_owner_history_through_two_transfers(chain: CoreChain) -> None:
    chain.send("saic", register_body())
    registered = veh.get_vehicle(chain.app.state, "saic:1").owner_since_ms
    assert registered == chain.now_ms
    second, third = seeded_key("owner-2"), seeded_key("owner-3")
    chain.send("saic", transfer_body("saic:1", second))
    t1 = chain.now_ms
    chain.send("saic", transfer_body("saic:1", third, owner=second, seq=1))
    t2 = chain.now_ms
    state = chain.app.state
    v = veh.get_vehicle(state, "saic:1")
    assert (v.owner, v.owner_since_ms, v.transfer_seq) == (third.public_key, t2, 2)
    assert veh.get_owner_history(state, "saic:1") == [
        OwnerPeriod(OWNER.public_key, registered, t1),
        OwnerPeriod(second.public_key, t1, t2),
        OwnerPeriod(third.public_key, t2, OPEN_UNTIL_MS),
    ]
    # Periods are half-open: the transfer's block time belongs to the new owner.
    assert veh.get_owner_at(state, "saic:1", registered) == OWNER.public_key
    assert veh.get_owner_at(state, "saic:1", t1 - 1) == OWNER.public_key
    assert veh.get_owner_at(state, "saic:1", t1) == second.public_key
    assert veh.get_owner_at(state, "saic:1", t2 - 1) == second.public_key
    assert veh.get_owner_at(state, "saic:1", t2) == third.public_key
    assert veh.get_owner_at(state, "saic:1", 2**62) == third.public_key


def test_invalid_owner_before_registration_or_of_unknown_vehicle(chain: CoreChain) -> None:
    chain.send("saic", register_body())
    registered = veh.get_vehicle(chain.app.state, "saic:1").owner_since_ms
    chain.send("saic", transfer_body("saic:1", seeded_key("owner-2")))
    with pytest.raises(NotFound):
        veh.get_owner_at(chain.app.state, "saic:1", registered - 1)
    with pytest.raises(NotFound):
        veh.get_owner_at(chain.app.state, "saic:404", registered)


def test_owner_history_is_provable_state(chain: CoreChain) -> None:
    """The closed period is a record in the vehicles store (in the app hash), not a cache."""
    chain.send("saic", register_body())
    chain.send("saic", transfer_body("saic:1", seeded_key("owner-2")))
    key = veh.compute_owner_period_key("saic:1", 0)
    assert chain.read(veh.STORE, key, OwnerPeriod).owner == OWNER.public_key
    assert chain.read(veh.STORE, veh.compute_owner_period_key("saic:1", 1), OwnerPeriod) is None


def test_invalid_transfer_writes_no_history(chain: CoreChain) -> None:
    chain.send("saic", register_body())
    mallory = seeded_key("mallory")
    assert chain.reject("saic", transfer_body("saic:1", mallory, owner=mallory)) == "unauthorized"
    assert veh.get_owner_history(chain.app.state, "saic:1") == [
        veh.get_current_owner_period(veh.get_vehicle(chain.app.state, "saic:1"))
    ]
