"""consent.grant and consent.withdraw: owner-signed, about the owner's own current cars only;
sensitive categories need a separate, named consent; a withdrawal holds from the next block."""

from __future__ import annotations

import msgspec
import pytest

from carchain.core import access_log, consents
from carchain.core.categories import CATEGORY_NAMES, SENSITIVE_CATEGORY_NAMES
from carchain.core.vehicles import get_vehicle
from carchain.data.categories import CATEGORY_NAMES as DATA_CATEGORY_NAMES
from carchain.data.categories import is_sensitive
from tests.core.memory import CoreChain, core_chain  # noqa: F401
from tests.core.sharing import (
    EXPIRES_MS,
    FROM_MS,
    UNTIL_MS,
    genesis,  # noqa: F401
    grant_body,
    setup_world,
    transfer,
    withdraw_body,
)


@pytest.fixture
def world(chain: CoreChain) -> CoreChain:
    return setup_world(chain)


def test_core_categories_are_the_data_planes() -> None:
    assert CATEGORY_NAMES == DATA_CATEGORY_NAMES
    assert {c for c in CATEGORY_NAMES if is_sensitive(c)} == SENSITIVE_CATEGORY_NAMES


def test_grant(world: CoreChain) -> None:
    result = world.send("owner-a", grant_body())
    events = {e.type: e.attributes for e in result.events}
    assert events["consent_granted"] == {"vehicle_id": "saic:1", "grant_seq": "0"}
    g = consents.get_grant(world.state, "saic:1", 0)
    assert (g.owner, g.categories, g.purpose, g.recipient_id, g.recipient_role) == (
        world.key("owner-a").public_key,
        ["diagnostics"],
        "maintenance_diagnostics",
        "bosch",
        "",
    )
    assert (g.data_from_ms, g.data_until_ms, g.expires_ms, g.withdrawn_height) == (
        FROM_MS,
        UNTIL_MS,
        EXPIRES_MS,
        0,
    )
    assert g.height == world.height
    assert [x.seq for x in consents.get_grants(world.state, "saic:1")] == [0]
    (event,) = access_log.get_access_log_page(world.state, "saic:1")
    assert (event.kind, event.ref, event.categories, event.detail) == (
        "grant",
        0,
        ["diagnostics"],
        "maintenance_diagnostics",
    )


def test_grant_seqs_count_per_vehicle(world: CoreChain) -> None:
    world.send("owner-a", grant_body("saic:1"))
    world.send("owner-a", grant_body("saic:1", recipient_id="", recipient_role="insurer"))
    world.send("owner-a", grant_body("saic:2"))
    assert consents.get_grant(world.state, "saic:1", 1).recipient_role == "insurer"
    assert consents.get_grant(world.state, "saic:2", 0).vehicle_id == "saic:2"
    assert consents.get_grant_optional(world.state, "saic:2", 1) is None


def test_one_owner_key_for_several_vehicles_with_member_style_nonces(world: CoreChain) -> None:
    owner = world.key("owner-a")
    before = world.nonce(owner)
    world.send(owner, grant_body("saic:1"))
    world.send(owner, grant_body("saic:2"))
    assert world.nonce(owner) == before + 2
    # A replayed owner transaction is refused like a member's.
    raw = world.build(owner, grant_body("saic:1"), nonce=before + 1)
    assert world.submit(raw).error_code == "invalid_nonce"


def test_sensitive_grant_named_and_alone(world: CoreChain) -> None:
    world.send("owner-a", grant_body(categories=("location",), purpose="navigation_maps",
                                     recipient_id="amap"))  # fmt: skip
    assert consents.get_grant(world.state, "saic:1", 0).categories == ["location"]


@pytest.mark.parametrize("sensitive", sorted(SENSITIVE_CATEGORY_NAMES))
def test_invalid_sensitive_grant_bundled_or_role_wide(world: CoreChain, sensitive: str) -> None:
    bundled = grant_body(categories=tuple(sorted(("diagnostics", sensitive))))
    assert world.reject("owner-a", bundled) == "sensitive_consent_not_separate"
    role_wide = grant_body(categories=(sensitive,), recipient_id="", recipient_role="insurer")
    assert world.reject("owner-a", role_wide) == "sensitive_consent_not_separate"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"categories": []}, "invalid_body"),
        ({"categories": ["fuel"]}, "invalid_body"),
        ({"categories": ["time", "diagnostics"]}, "invalid_body"),  # not sorted
        ({"categories": ["diagnostics", "diagnostics"]}, "invalid_body"),
        ({"purpose": "profiling"}, "invalid_body"),
        ({"purpose": ""}, "invalid_body"),
        ({"recipient_id": ""}, "invalid_body"),  # neither
        ({"recipient_role": "insurer"}, "invalid_body"),  # both
        ({"recipient_id": "", "recipient_role": "pirate"}, "invalid_body"),
        ({"recipient_id": "nobody"}, "not_found"),
        ({"recipient_id": "bad id"}, "invalid_body"),
        ({"data_from_ms": UNTIL_MS}, "invalid_body"),
        ({"data_from_ms": -1}, "invalid_body"),
        ({"data_until_ms": 2**63}, "invalid_body"),
        ({"expires_ms": 0}, "invalid_body"),
        ({"expires_ms": 2**63}, "invalid_body"),
    ],
)
def test_invalid_grant_body(world: CoreChain, change: dict[str, object], code: str) -> None:
    body = msgspec.structs.replace(grant_body(), **change)
    assert world.reject("owner-a", body) == code


def test_invalid_grant_already_expired_at_the_block(world: CoreChain) -> None:
    assert world.reject("owner-a", grant_body(expires_ms=world.now_ms + 1000)) == "invalid_body"


def test_invalid_grant_by_someone_else(world: CoreChain) -> None:
    assert world.reject("owner-b", grant_body("saic:1")) == "unauthorized"
    assert world.reject("saic", grant_body("saic:1")) == "unauthorized"  # the OEM is not the owner
    assert world.reject("stranger", grant_body("saic:1")) == "unauthorized"
    assert world.reject("owner-a", grant_body("saic:99")) == "not_found"


def test_invalid_grant_by_previous_owner(world: CoreChain) -> None:
    assert world.reject("owner-prev", grant_body("saic:3")) == "unauthorized"
    # The new owner may, but not for the time before it owned the car.
    assert world.reject("owner-new", grant_body("saic:3")) == "invalid_body"
    world.send("owner-new", grant_body("saic:3", data_from_ms=world.now_ms))


def test_grant_of_previous_owner_falls_out_of_force_on_transfer(world: CoreChain) -> None:
    world.send("owner-a", grant_body("saic:2"))
    grant = consents.get_grant(world.state, "saic:2", 0)
    transfer(world, "saic:2", "owner-a", "owner-c")
    car = get_vehicle(world.state, "saic:2")
    assert not consents.is_grant_in_force(grant, car, world.height + 1, world.now_ms)
    # ... and the new owner cannot withdraw it (there is nothing in force).
    assert world.reject("owner-c", withdraw_body("saic:2", 0)) == "grant_not_in_force"


def test_withdraw_in_force_up_to_its_own_block(world: CoreChain) -> None:
    world.send("owner-a", grant_body())
    result = world.send("owner-a", withdraw_body())
    assert {e.type for e in result.events} >= {"consent_withdrawn"}
    g = consents.get_grant(world.state, "saic:1", 0)
    car = get_vehicle(world.state, "saic:1")
    assert g.withdrawn_height == world.height
    assert consents.is_grant_in_force(g, car, world.height, world.now_ms)
    assert not consents.is_grant_in_force(g, car, world.height + 1, world.now_ms)
    kinds = [e.kind for e in access_log.get_access_log_page(world.state, "saic:1")]
    assert kinds == ["withdraw", "grant"]


def test_invalid_withdraw(world: CoreChain) -> None:
    assert world.reject("owner-a", withdraw_body(seq=0)) == "not_found"
    world.send("owner-a", grant_body())
    assert world.reject("owner-a", withdraw_body(seq=-1)) == "invalid_body"
    assert world.reject("owner-a", withdraw_body(seq=2**63)) == "invalid_body"
    assert world.reject("owner-b", withdraw_body()) == "unauthorized"
    assert world.reject("bosch", withdraw_body()) == "unauthorized"
    world.send("owner-a", withdraw_body())
    assert world.reject("owner-a", withdraw_body()) == "grant_not_in_force"  # replay by content


def test_invalid_withdraw_of_expired_grant(world: CoreChain) -> None:
    world.send("owner-a", grant_body(expires_ms=world.now_ms + 2000))
    world.block()
    world.block()
    assert world.reject("owner-a", withdraw_body()) == "grant_not_in_force"


def test_grants_in_force_are_capped_and_expired_ones_pruned(world: CoreChain) -> None:
    limit = consents.MAX_GRANTS_IN_FORCE
    owner = world.key("owner-a")
    short = grant_body(expires_ms=world.now_ms + 3000)
    for _ in range(limit - 1):
        assert world.submit(world.build(owner, grant_body())).ok
    assert world.submit(world.build(owner, short)).ok
    results = world.block()
    assert all(r.code == 0 for r in results)
    assert len(consents.get_grants(world.state, "saic:1")) == limit
    assert world.reject(owner, grant_body()) == "too_many_grants"
    world.block()
    world.block()  # the short grant has expired: its place is free again
    world.send(owner, grant_body())
    assert len(consents.get_grants(world.state, "saic:1")) == limit
    assert consents.get_grant_count(world.state, "saic:1") == limit + 1
