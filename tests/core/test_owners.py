"""Owner accounts sign: admission matches the signer to the CURRENT owner of the vehicle the
body names, before the transaction costs any state; one key for several cars; member nonces."""

from __future__ import annotations

import pytest

from carchain.core import consents, owners
from carchain.core.vehicles import RevokeVehicle
from carchain.errors import NotFound, Unauthorized
from tests.core.memory import CoreChain, core_chain  # noqa: F401
from tests.core.sharing import genesis, grant_body, setup_world, transfer  # noqa: F401


@pytest.fixture
def world(chain: CoreChain) -> CoreChain:
    return setup_world(chain)


def test_validate_owner(world: CoreChain) -> None:
    owner_a = world.key("owner-a").public_key
    assert owners.validate_owner(world.state, owner_a, "saic:1").vehicle_id == "saic:1"
    assert owners.validate_owner(world.state, owner_a, "saic:2").vehicle_id == "saic:2"
    with pytest.raises(Unauthorized):
        owners.validate_owner(world.state, owner_a, "geely:1")
    with pytest.raises(NotFound):
        owners.validate_owner(world.state, owner_a, "saic:404")


def test_invalid_previous_owner_is_refused_at_admission(world: CoreChain) -> None:
    assert world.reject("owner-prev", grant_body("saic:3")) == "unauthorized"
    assert world.last_check is not None and not world.last_check.ok
    assert world.nonce(world.key("owner-prev")) == 0  # refused before it cost a nonce


def test_owner_loses_the_right_with_the_car(world: CoreChain) -> None:
    world.send("owner-a", grant_body("saic:2"))
    transfer(world, "saic:2", "owner-a", "owner-c")
    assert world.reject("owner-a", grant_body("saic:2")) == "unauthorized"
    world.send("owner-a", grant_body("saic:1"))  # still owns saic:1 with the same key
    assert consents.get_grant_count(world.state, "saic:1") == 1


def test_one_key_several_vehicles_one_nonce_sequence(world: CoreChain) -> None:
    owner = world.key("owner-a")
    for n, vid in enumerate(("saic:1", "saic:2", "saic:1"), start=1):
        world.send(owner, grant_body(vid))
        assert world.nonce(owner) == n
    skipped = world.build(owner, grant_body("saic:2"), nonce=5)
    assert world.submit(skipped).error_code == "invalid_nonce"
    replayed = world.build(owner, grant_body("saic:2"), nonce=3)
    assert world.submit(replayed).error_code == "invalid_nonce"


def test_owner_of_revoked_vehicle_may_still_withdraw(world: CoreChain) -> None:
    world.send("owner-a", grant_body("saic:1"))
    world.send("saic", RevokeVehicle("saic:1", "scrapped"))
    world.send("owner-a", consents.WithdrawConsent("saic:1", 0))
